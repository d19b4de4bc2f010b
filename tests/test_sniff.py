import pickle
import struct

import pytest

from modelscreen.engine import scan_bytes
from modelscreen.engine.sniff import sniff


def _st_header(obj: bytes) -> bytes:
    return struct.pack("<Q", len(obj)) + obj


@pytest.mark.parametrize(
    "data,fmt",
    [
        (pickle.dumps({"a": 1}, protocol=0), "pickle"),
        (pickle.dumps({"a": 1}, protocol=2), "pickle"),
        (pickle.dumps([1.5, "x"], protocol=5), "pickle"),
        (b"PK\x03\x04" + b"\x00" * 30, "zip"),
        (b"\x93NUMPY\x01\x00", "numpy"),
        (b"GGUF\x03\x00\x00\x00", "gguf"),
        (b"\x1f\x8b\x08\x00", "gzip"),
        (b"BZh91AY&SY", "bz2"),
        (b"\xfd7zXZ\x00\x00", "xz"),
        (b"7z\xbc\xaf\x27\x1c\x00\x04", "7z"),
        (b"\x7fELF\x02\x01\x01", "elf"),
        (_st_header(b'{"__metadata__":{"a":"b"}}'), "safetensors"),
        (b'{"architectures": ["X"]}', "json"),
        (b"plain words\n", "text"),
        (b"", "empty"),
    ],
)
def test_sniff_by_content(data, fmt):
    assert sniff(data[:65536], b"", len(data)) == fmt


def test_text_starting_with_opcode_letters_is_not_a_pickle():
    assert sniff(b"Some notes about the model\n", b"", 27) == "text"
    assert sniff(b"(this is a parenthesis)\n", b"", 24) == "text"


def test_name_disagreeing_with_content_is_a_finding():
    report = scan_bytes(pickle.dumps({"w": [1, 2]}), "weights.safetensors")[0]
    assert report.format == "pickle"
    mismatch = [f for f in report.findings if f.rule_id == "FORMAT-EXTENSION-MISMATCH"]
    assert mismatch and mismatch[0].severity.value == "medium"
    assert report.verdict.value != "clean"


def test_name_agreeing_with_content_is_quiet():
    report = scan_bytes(pickle.dumps({"w": [1, 2]}), "weights.pkl")[0]
    assert not [f for f in report.findings if f.rule_id == "FORMAT-EXTENSION-MISMATCH"]
