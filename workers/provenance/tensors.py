"""Safetensors baselines: a digest per tensor, and the drift between two files or directories.

The manifest is built in one sequential pass over the file (bounded memory: one chunk at a time):
the header is parsed, then the data section is streamed and each chunk is fed to the hashers of the
tensors whose byte ranges it overlaps. The whole-file sha256 comes out of the same pass.
"""
from __future__ import annotations

import hashlib
import json
import os
import struct
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from modelscreen.schemas.inventory import TensorDigest, TensorManifest

CHUNK = 1 << 20
MAX_HEADER = 100_000_000  # the reference loader's limit


class ManifestError(ValueError):
    """Not a safetensors file we can take a baseline of."""


def tensor_manifest(path: str | os.PathLike, *, chunk: int = CHUNK) -> TensorManifest:
    p = Path(path)
    whole = hashlib.sha256()
    size = p.stat().st_size
    with open(p, "rb") as fh:
        head = fh.read(8)
        if len(head) != 8:
            raise ManifestError(f"{p}: too short for safetensors")
        (n,) = struct.unpack("<Q", head)
        if n > MAX_HEADER or 8 + n > size:
            raise ManifestError(f"{p}: header length {n} is out of range")
        raw = fh.read(n)
        whole.update(head)
        whole.update(raw)
        try:
            header = json.loads(raw)
        except (ValueError, UnicodeDecodeError) as exc:
            raise ManifestError(f"{p}: header is not JSON ({exc})") from None
        if not isinstance(header, dict):
            raise ManifestError(f"{p}: header is not an object")
        metadata = header.pop("__metadata__", None) or {}
        data_len = size - 8 - n
        entries = []
        for name, spec in header.items():
            try:
                begin, end = (int(x) for x in spec["data_offsets"])
                dtype, shape = str(spec["dtype"]), [int(d) for d in spec["shape"]]
            except (KeyError, TypeError, ValueError):
                raise ManifestError(f"{p}: malformed entry for tensor {name!r}") from None
            if not 0 <= begin <= end <= data_len:
                raise ManifestError(f"{p}: tensor {name!r} lies outside the data section")
            entries.append((begin, end, name, dtype, shape))
        entries.sort()
        hashers = [hashlib.sha256() for _ in entries]
        # stream the data section once; `first` is the lowest entry that may still overlap
        pos, first = 0, 0
        while True:
            buf = fh.read(chunk)
            if not buf:
                break
            whole.update(buf)
            lo, hi = pos, pos + len(buf)
            while first < len(entries) and entries[first][1] <= lo:
                first += 1
            i = first
            while i < len(entries) and entries[i][0] < hi:
                b, e = entries[i][0], entries[i][1]
                s, t = max(b, lo), min(e, hi)
                if s < t:
                    hashers[i].update(memoryview(buf)[s - lo:t - lo])
                i += 1
            pos = hi
    tensors = [TensorDigest(name=name, dtype=dtype, shape=shape, begin=b, end=e, sha256=h.hexdigest())
               for (b, e, name, dtype, shape), h in zip(entries, hashers)]
    tensors.sort(key=lambda t: t.name)
    meta = {str(k): str(v) for k, v in metadata.items()} if isinstance(metadata, dict) else {}
    return TensorManifest(sha256=whole.hexdigest(), size=size, header_sha256=hashlib.sha256(raw).hexdigest(),
                          metadata=meta, tensors=tensors)


@dataclass
class TensorChange:
    name: str
    kind: str  # changed | added | removed | dtype | shape
    old: dict[str, Any] | None = None
    new: dict[str, Any] | None = None


@dataclass
class FileDiff:
    path: str
    status: str  # same | changed | added | removed | error
    changes: list[TensorChange] = field(default_factory=list)
    old_sha256: str | None = None
    new_sha256: str | None = None
    metadata_changed: bool = False
    error: str | None = None

    def to_json(self) -> dict[str, Any]:
        return {"path": self.path, "status": self.status, "old_sha256": self.old_sha256,
                "new_sha256": self.new_sha256, "metadata_changed": self.metadata_changed, "error": self.error,
                "changes": [{"tensor": c.name, "kind": c.kind, "old": c.old, "new": c.new} for c in self.changes]}


def _brief(t: TensorDigest) -> dict[str, Any]:
    return {"dtype": t.dtype, "shape": t.shape, "sha256": t.sha256}


def diff_manifests(old: TensorManifest, new: TensorManifest) -> list[TensorChange]:
    """Tensors added, removed, and changed (dtype, shape or bytes), by name."""
    a = {t.name: t for t in old.tensors}
    b = {t.name: t for t in new.tensors}
    out = []
    for name in sorted(set(a) | set(b)):
        if name not in b:
            out.append(TensorChange(name, "removed", old=_brief(a[name])))
        elif name not in a:
            out.append(TensorChange(name, "added", new=_brief(b[name])))
        else:
            x, y = a[name], b[name]
            if x.dtype != y.dtype:
                out.append(TensorChange(name, "dtype", old=_brief(x), new=_brief(y)))
            elif x.shape != y.shape:
                out.append(TensorChange(name, "shape", old=_brief(x), new=_brief(y)))
            elif x.sha256 != y.sha256:
                out.append(TensorChange(name, "changed", old=_brief(x), new=_brief(y)))
    return out


def diff_files(old: Path, new: Path, rel: str) -> FileDiff:
    try:
        a, b = tensor_manifest(old), tensor_manifest(new)
    except (ManifestError, OSError) as exc:
        return FileDiff(rel, "error", error=str(exc))
    changes = diff_manifests(a, b)
    meta = a.metadata != b.metadata
    status = "changed" if changes or meta or a.sha256 != b.sha256 else "same"
    return FileDiff(rel, status, changes, a.sha256, b.sha256, meta)


def _safetensors_files(root: Path) -> dict[str, Path]:
    return {p.relative_to(root).as_posix(): p for p in sorted(root.rglob("*.safetensors")) if p.is_file()}


def diff_paths(old: str | os.PathLike, new: str | os.PathLike) -> list[FileDiff]:
    """Two safetensors files, or two directories (files matched by relative path)."""
    old, new = Path(old), Path(new)
    if old.is_file() and new.is_file():
        return [diff_files(old, new, new.name if old.name == new.name else f"{old.name} -> {new.name}")]
    if old.is_dir() and new.is_dir():
        a, b = _safetensors_files(old), _safetensors_files(new)
        out = []
        for rel in sorted(set(a) | set(b)):
            if rel not in b:
                out.append(FileDiff(rel, "removed", old_sha256=_sha_or_none(a[rel])))
            elif rel not in a:
                out.append(FileDiff(rel, "added", new_sha256=_sha_or_none(b[rel])))
            else:
                out.append(diff_files(a[rel], b[rel], rel))
        return out
    raise ValueError("compare two files or two directories")


def _sha_or_none(p: Path) -> str | None:
    try:
        return tensor_manifest(p).sha256
    except (ManifestError, OSError):
        return None
