import pytest

from modelscreen.sources import huggingface
from modelscreen.sources.base import InvalidEvent
from modelscreen.sources.intake import normalise_raw

HEAD = "8c2e5f1a9d3b7e6c4a0f2d8b1e9c7a5d3f6b4e2a"


def test_repo_content_update(raw):
    (ev,) = normalise_raw(raw("huggingface_repo_content_update.json"), [])
    assert ev.action.value == "uploaded"
    assert ev.store.value == "huggingface"
    assert ev.store_name == "models"
    assert ev.uri == f"hf://models/acme-research/tiny-bert-sentiment@{HEAD}"
    assert ev.name == "acme-research/tiny-bert-sentiment"
    assert ev.version == HEAD
    assert ev.raw_type == "repo.content.update"


def test_event_id_is_stable_even_without_a_source_id(raw):
    a = normalise_raw(raw("huggingface_repo_content_update.json"), [])
    b = normalise_raw(raw("huggingface_repo_content_update.json"), [])
    assert a[0].event_id == b[0].event_id


def test_each_updated_ref_is_screened(load):
    payload = load("huggingface_repo_content_update.json")
    pr_sha = "a" * 40
    payload["updatedRefs"].append({"ref": "refs/pr/4", "oldSha": None, "newSha": pr_sha})
    payload["updatedRefs"].append({"ref": "refs/heads/old", "oldSha": "b" * 40, "newSha": None})
    events = huggingface.normalise(payload, {})
    assert [e.version for e in events] == [HEAD, pr_sha]


def test_falls_back_to_head_sha(load):
    payload = load("huggingface_repo_content_update.json")
    del payload["updatedRefs"]
    (ev,) = huggingface.normalise(payload, {})
    assert ev.version == HEAD


def test_dataset_repo_uri(load):
    payload = load("huggingface_repo_content_update.json")
    payload["repo"]["type"] = "dataset"
    (ev,) = huggingface.normalise(payload, {})
    assert ev.uri.startswith("hf://datasets/acme-research/tiny-bert-sentiment@")


def test_repo_delete(load):
    payload = load("huggingface_repo_content_update.json")
    payload["event"] = {"action": "delete", "scope": "repo"}
    (ev,) = huggingface.normalise(payload, {})
    assert ev.action.value == "deleted"


def test_discussion_yields_nothing(raw):
    assert normalise_raw(raw("huggingface_discussion_create.json"), []) == []


@pytest.mark.parametrize("name", ["../etc", "a/b/c", "", "a b"])
def test_bad_repo_name_is_invalid(load, name):
    payload = load("huggingface_repo_content_update.json")
    payload["repo"]["name"] = name
    with pytest.raises(InvalidEvent):
        huggingface.normalise(payload, {})


def test_bad_sha_is_invalid(load):
    payload = load("huggingface_repo_content_update.json")
    payload["updatedRefs"][0]["newSha"] = "zz"
    with pytest.raises(InvalidEvent):
        huggingface.normalise(payload, {})
