"""Text probes and trigger phrases to token ids with a `tokenizer.json` (Hugging Face `tokenizers`, a Rust
library that reads JSON and runs no code), inside the sandbox like everything else taken from the model."""
from __future__ import annotations

from pathlib import Path

from modelscreen.sandbox import SandboxLimits, run_sandboxed

MAX_TOKENIZER_BYTES = 64 * 1024 * 1024


def tokenize_child(path: str, texts: list[str]) -> tuple[list[list[int]], int]:
    # heavy optional third-party module (evaluate extra), imported only in the child
    from tokenizers import Tokenizer

    if Path(path).stat().st_size > MAX_TOKENIZER_BYTES:
        raise ValueError(f"the tokenizer file is larger than {MAX_TOKENIZER_BYTES} bytes")
    tok = Tokenizer.from_file(path)
    ids = [tok.encode(t, add_special_tokens=False).ids for t in texts]
    return ids, tok.get_vocab_size(with_added_tokens=True)


def tokenize(path: Path, texts: list[str], limits: SandboxLimits) -> tuple[list[list[int]], int]:
    """Token ids of each text and the vocabulary size."""
    return run_sandboxed(tokenize_child, str(path), list(texts), limits=limits)
