"""Fetchers come from one table with one signature; the scan cache keys on the engine and ruleset versions."""
from __future__ import annotations

import inspect

import pytest

from modelscreen.fetch import FETCHERS, FetchError, fetch_to_file
from modelscreen.pipeline import cache
from modelscreen.settings import Settings


def test_every_fetcher_shares_one_signature():
    assert {"file", "http", "https", "s3", "hf", "oci", "artifactory", "nexus"} <= set(FETCHERS)
    for scheme, fetcher in FETCHERS.items():
        assert list(inspect.signature(fetcher).parameters) == ["uri", "dest", "limits", "settings"], scheme


def test_an_unknown_scheme_is_a_permanent_fetch_error(tmp_path):
    with pytest.raises(FetchError) as exc:
        fetch_to_file("gopher://host/x", tmp_path / "x", Settings())
    assert not exc.value.transient and "gopher" in exc.value.reason


def test_file_uris_resolve_inside_the_roots(tmp_path):
    f = tmp_path / "m.bin"
    f.write_bytes(b"x")
    assert fetch_to_file(f.as_uri(), tmp_path / "unused", Settings(fetch_file_roots=[tmp_path])) == f


def test_cache_key_includes_engine_and_ruleset_versions(monkeypatch):
    key = cache.ScanCache.key("ab" * 32, "rules-1")
    assert cache.ScanCache.key("ab" * 32, "rules-2") != key
    monkeypatch.setattr(cache, "ENGINE_VERSION", "9.9.9")
    assert cache.ScanCache.key("ab" * 32, "rules-1") != key
