"""Hugging Face pins against recorded Hub API responses: LFS sha256 and git blob sha1, match and mismatch."""
from __future__ import annotations

import hashlib

import pytest

from modelscreen.schemas.inventory import ArtifactIdentity
from tests.provenance.hub_fixture import COMMIT, ENDPOINT, FILES, REPO, Recorded, write_snapshot
from modelscreen.provenance.hf import (
    HubClient,
    HubError,
    check_file,
    git_blob_sha1,
    parse_repo_ref,
    pin_repo,
    verify_directory,
)


@pytest.fixture
def client():
    return HubClient(ENDPOINT, getter=Recorded(), token="")


def rules(findings):
    return sorted(f.rule_id for f in findings)


def test_git_blob_sha1_is_gits_object_id(tmp_path):
    p = tmp_path / "hello.txt"
    p.write_bytes(b"hello world\n")
    assert git_blob_sha1(p) == "3b18e512dba79e4c8300dd08aeb37f8e728b8dad"  # git hash-object hello.txt


def test_tree_follows_pagination_and_reads_both_digest_kinds(client):
    files = client.files(REPO, COMMIT)
    assert sorted(files) == sorted(FILES)  # directories skipped, page 2 fetched
    model = files["model.safetensors"]
    assert model.lfs and model.sha256 == hashlib.sha256(FILES["model.safetensors"]).hexdigest()
    assert model.git_sha1 is None  # the entry's oid is the LFS pointer's blob id, not the content's
    config = files["config.json"]
    assert not config.lfs and config.git_sha1 and config.size == len(FILES["config.json"])
    assert len(client.get.calls) == 2


def test_snapshot_matches(tmp_path, client):
    snap = write_snapshot(tmp_path / "snap")
    assert verify_directory(snap, client.files(REPO, COMMIT)) == []


def test_lfs_file_mismatch(tmp_path, client):
    snap = write_snapshot(tmp_path / "snap")
    (snap / "model.safetensors").write_bytes(FILES["model.safetensors"][:-1] + b"\x00")
    found = verify_directory(snap, client.files(REPO, COMMIT))
    assert rules(found) == ["HF-PIN-DIGEST-MISMATCH"]
    assert found[0].location == "model.safetensors" and "sha256" in found[0].detail
    assert found[0].severity.value == "critical"


def test_regular_file_mismatch_uses_the_git_blob_id(tmp_path, client):
    snap = write_snapshot(tmp_path / "snap")
    (snap / "tokenizer" / "vocab.txt").write_bytes(b"[PAD]\nevil\n")
    found = verify_directory(snap, client.files(REPO, COMMIT))
    assert rules(found) == ["HF-PIN-DIGEST-MISMATCH"]
    assert found[0].location == "tokenizer/vocab.txt" and "git blob sha1" in found[0].detail


def test_missing_and_extra_files(tmp_path, client):
    snap = write_snapshot(tmp_path / "snap")
    (snap / "config.json").unlink()
    (snap / "pytorch_model.bin").write_bytes(b"\x80\x02}q\x00.")
    (snap / ".git").mkdir()
    (snap / ".git" / "HEAD").write_text("ref: refs/heads/main\n")
    found = verify_directory(snap, client.files(REPO, COMMIT))
    assert rules(found) == ["HF-PIN-EXTRA-FILE", "HF-PIN-MISSING-FILE"]


def test_paths_info_for_one_file(tmp_path, client):
    snap = write_snapshot(tmp_path / "snap")
    info = client.paths_info(REPO, COMMIT, ["model.safetensors"])
    assert check_file(snap / "model.safetensors", info["model.safetensors"]) == []
    (snap / "model.safetensors").write_bytes(b"x")
    assert rules(check_file(snap / "model.safetensors", info["model.safetensors"])) == ["HF-PIN-DIGEST-MISMATCH"]


def test_hub_errors_are_errors(client):
    with pytest.raises(HubError, match="404"):
        client.files(REPO, "f" * 40)


def test_pin_repo_records_every_file(inventory, client):
    recs = pin_repo(inventory, REPO, COMMIT, client=client, by="alice", reason="release")
    assert len(recs) == 4 and all(r.pinned for r in recs)
    model = next(r for r in recs if r.path == "model.safetensors")
    assert model.sha256 == hashlib.sha256(FILES["model.safetensors"]).hexdigest()
    assert model.purl == f"pkg:huggingface/{REPO}@{COMMIT}#model.safetensors"
    assert model.identity == f"huggingface/models:{REPO}@{COMMIT}#model.safetensors"
    config = next(r for r in recs if r.path == "config.json")
    assert config.sha256 is None and config.digests["git-sha1"] == git_blob_sha1_of(FILES["config.json"])
    assert config.approval.value == "approved"
    ident = ArtifactIdentity.parse(model.identity)
    assert inventory.search(identity=ident.key, pinned=True)[0].id == model.id
    with pytest.raises(ValueError, match="commit"):
        pin_repo(inventory, REPO, "main", client=client, by="alice")


def git_blob_sha1_of(data: bytes) -> str:
    return hashlib.sha1(b"blob %d\0" % len(data) + data).hexdigest()


@pytest.mark.parametrize("text, expected", [
    ("org/name@abc", ("org/name", "abc")),
    ("hf://models/org/name@" + "a" * 40, ("org/name", "a" * 40)),
    ("gpt2@main", ("gpt2", "main")),
])
def test_parse_repo_ref(text, expected):
    assert parse_repo_ref(text) == expected
    with pytest.raises(ValueError):
        parse_repo_ref("org/name")
