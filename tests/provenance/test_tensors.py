"""Safetensors tensor manifests and `diff`."""
from __future__ import annotations

import hashlib

import numpy as np
import pytest
from safetensors.numpy import save_file

from modelscreen.provenance import store_baseline
from modelscreen.provenance.tensors import ManifestError, diff_manifests, diff_paths, tensor_manifest


def save(path, tensors, metadata=None):
    path.parent.mkdir(parents=True, exist_ok=True)
    save_file(tensors, str(path), metadata=metadata)
    return path


def base_tensors():
    return {"embed.weight": np.arange(64, dtype=np.float32).reshape(8, 8),
            "layer.0.bias": np.zeros(8, dtype=np.float32),
            "layer.0.weight": np.ones((8, 8), dtype=np.float32),
            "empty": np.zeros((0,), dtype=np.float32)}


def test_manifest_digests_each_tensor_range(tmp_path):
    p = save(tmp_path / "m.safetensors", base_tensors(), {"format": "np"})
    m = tensor_manifest(p, chunk=7)  # chunks smaller than tensors and unaligned to them
    data = p.read_bytes()
    assert m.sha256 == hashlib.sha256(data).hexdigest() and m.size == len(data)
    assert m.metadata == {"format": "np"}
    by = {t.name: t for t in m.tensors}
    assert by["layer.0.weight"].sha256 == hashlib.sha256(np.ones((8, 8), dtype=np.float32).tobytes()).hexdigest()
    assert by["embed.weight"].shape == [8, 8] and by["embed.weight"].dtype == "F32"
    assert by["empty"].sha256 == hashlib.sha256(b"").hexdigest()
    assert tensor_manifest(p, chunk=1 << 20) == m


def test_diff_reports_changed_added_removed_dtype_and_shape(tmp_path):
    old = save(tmp_path / "old.safetensors", base_tensors())
    t = base_tensors()
    t["layer.0.weight"] = t["layer.0.weight"].copy()
    t["layer.0.weight"][3, 3] = 2.0  # one weight changed
    del t["layer.0.bias"]  # removed
    t["layer.1.weight"] = np.ones((2, 2), dtype=np.float16)  # added
    t["embed.weight"] = np.arange(64, dtype=np.float32).reshape(4, 16)  # same bytes, new shape
    t["empty"] = np.zeros((0,), dtype=np.float64)  # dtype
    new = save(tmp_path / "new.safetensors", t)
    changes = {c.name: c.kind for c in diff_manifests(tensor_manifest(old), tensor_manifest(new))}
    assert changes == {"layer.0.weight": "changed", "layer.0.bias": "removed", "layer.1.weight": "added",
                       "embed.weight": "shape", "empty": "dtype"}


def test_identical_files_have_no_changes(tmp_path):
    a = save(tmp_path / "a.safetensors", base_tensors())
    b = save(tmp_path / "b.safetensors", base_tensors())
    [d] = diff_paths(a, b)
    assert d.status == "same" and d.changes == []


def test_directories_are_matched_by_relative_path(tmp_path):
    save(tmp_path / "old" / "shard-1.safetensors", base_tensors())
    save(tmp_path / "old" / "sub" / "gone.safetensors", base_tensors())
    save(tmp_path / "new" / "shard-1.safetensors", {**base_tensors(), "extra": np.ones(1, dtype=np.int8)})
    save(tmp_path / "new" / "sub" / "new.safetensors", base_tensors())
    diffs = {d.path: d for d in diff_paths(tmp_path / "old", tmp_path / "new")}
    assert diffs["shard-1.safetensors"].status == "changed"
    assert [c.kind for c in diffs["shard-1.safetensors"].changes] == ["added"]
    assert diffs["sub/gone.safetensors"].status == "removed" and diffs["sub/new.safetensors"].status == "added"


def test_not_safetensors(tmp_path):
    bad = tmp_path / "bad.safetensors"
    bad.write_bytes(b"\xff" * 16)
    with pytest.raises(ManifestError):
        tensor_manifest(bad)
    good = save(tmp_path / "good.safetensors", base_tensors())
    assert diff_paths(bad, good)[0].status == "error"
    with pytest.raises(ValueError):
        diff_paths(good, tmp_path)


def test_baseline_is_stored_per_sha256(tmp_path, inventory):
    p = save(tmp_path / "m.safetensors", base_tensors())
    m = store_baseline(inventory, p)
    assert inventory.get_manifest(m.sha256) == m


def test_the_scan_digests_every_tensor_in_its_own_pass(tmp_path):
    from modelscreen.engine import scan_path, scan_stream

    f = tmp_path / "m.safetensors"
    save_file({"a": np.arange(10, dtype=np.float32), "b": np.ones((400, 700), dtype=np.float16)},
              str(f), metadata={"base": "x"})
    with open(f, "rb") as fh:
        report = scan_stream(fh, str(f), tensor_digests=True)[0]
    assert report.tensor_manifest == tensor_manifest(f)
    assert scan_path(f)[0].tensor_manifest is None  # only when asked for
    assert "tensor_manifest" not in report.model_dump_json()  # in-process only


def test_pipeline_evidence_takes_the_scan_manifest_without_reading_again(tmp_path, monkeypatch):
    from datetime import datetime, timezone

    from modelscreen.schemas.events import ArtifactEvent
    from modelscreen.pipeline.scanning import scan_fetched
    from modelscreen.provenance import pipeline_checks, tensors
    from modelscreen.settings import Settings

    f = tmp_path / "m.safetensors"
    save_file({"a": np.arange(10, dtype=np.float32)}, str(f))
    event = ArtifactEvent(action="uploaded", store="local", uri=f.as_uri(), name="m", version="v1",
                          time=datetime(2026, 12, 5, tzinfo=timezone.utc), source_event_id="s", raw_type="t")

    def second_pass(*a, **k):
        raise AssertionError("read the file again")

    monkeypatch.setattr(tensors, "tensor_manifest", second_pass)
    result, ev = scan_fetched(event, Settings(fetch_file_roots=[tmp_path]), inspect=pipeline_checks.collect_evidence)
    assert ev.manifest is not None and ev.manifest.sha256 == result.sha256 and [t.name for t in ev.manifest.tensors] == ["a"]
