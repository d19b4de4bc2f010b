"""Text that came from scanned bytes (file names, member names, strings inside artifacts), made
representable in every output: JSON, SARIF, tables, ECS documents, SQLite rows.

Python text from such bytes can hold lone surrogates (`os.fsdecode` of a non-UTF-8 name, a JSON
`"\\ud800"`), which UTF-8 encoders refuse. `printable_text` replaces each with a visible escape
(`\\udcff`, the same escape `repr` shows); `raw_hex` keeps the original recoverable: the hex of the
text encoded as the filesystem encodes names (surrogate escapes back to their bytes), or, for other
lone surrogates, as WTF-8 (surrogatepass).
"""
from __future__ import annotations

from typing import Annotated

from pydantic import AfterValidator


def is_encodable(text: str) -> bool:
    if text.isascii():
        return True
    try:
        text.encode("utf-8")
    except UnicodeEncodeError:
        return False
    return True


def printable_text(text: str) -> str:
    """The text itself when UTF-8 can encode it; otherwise lone surrogates become `\\uXXXX` escapes."""
    if is_encodable(text):
        return text
    return text.encode("utf-8", "backslashreplace").decode("utf-8")


def raw_bytes(text: str) -> bytes:
    try:
        return text.encode("utf-8", "surrogateescape")
    except UnicodeEncodeError:
        return text.encode("utf-8", "surrogatepass")


def raw_hex(text: str | None) -> str | None:
    """Hex of the original bytes when the text is not valid UTF-8 (None when it is)."""
    if text is None or is_encodable(text):
        return None
    return raw_bytes(text).hex()


ScannedText = Annotated[str, AfterValidator(printable_text)]
