"""`modelscreen kibana setup` against a fake Kibana that checks requests like Kibana's import APIs do."""
from __future__ import annotations

import base64
import json
import socket
from pathlib import Path

import pytest
from click.testing import CliRunner

from tests.kibana.fake_kibana import FakeKibana
from modelscreen.commands.kibana import kibana
from modelscreen.kibana import DETECTION_RULES_FILE, SAVED_OBJECTS_FILE, KibanaClient, KibanaSettings, ndjson_objects

SAVED = ndjson_objects(SAVED_OBJECTS_FILE.read_text())
RULES = ndjson_objects(DETECTION_RULES_FILE.read_text())


def basic(user: str, password: str) -> str:
    return "Basic " + base64.b64encode(f"{user}:{password}".encode()).decode()


@pytest.fixture(autouse=True)
def clean_env(monkeypatch, tmp_path):
    import os

    for key in list(os.environ):
        if key.startswith("MODELSCREEN_"):
            monkeypatch.delenv(key)
    monkeypatch.chdir(tmp_path)


def run(*args: str, env: dict[str, str] | None = None):
    result = CliRunner().invoke(kibana, ["setup", *args], env=env or {}, catch_exceptions=False)
    report = None
    if result.stdout.strip():
        report = json.loads(result.stdout)
    return result, report


def _check_upload(req: dict, *, api: str, space: str | None, auth: str) -> None:
    prefix = f"/s/{space}" if space else ""
    assert req["path"] == f"{prefix}{api}"
    assert req["query"] == {"overwrite": ["true"]}
    assert req["headers"]["kbn-xsrf"]
    assert req["headers"]["authorization"] == auth
    assert req["headers"]["content-type"].startswith("multipart/form-data; boundary=")


def test_setup_imports_saved_objects_and_rules_into_a_space_with_elasticsearch_credentials():
    auth = basic("elastic", "s3cret")
    with FakeKibana(authorization=auth, spaces=("soc",)) as fake:
        result, report = run("--url", fake.url, "--space", "soc",
                             env={"MODELSCREEN_ELASTICSEARCH_USERNAME": "elastic",
                                  "MODELSCREEN_ELASTICSEARCH_PASSWORD": "s3cret"})
        assert result.exit_code == 0, result.output
        assert fake.problems == []
        assert [r["api"] for r in fake.requests] == ["/api/saved_objects/_import",
                                                     "/api/detection_engine/rules/_import"]
        _check_upload(fake.requests[0], api="/api/saved_objects/_import", space="soc", auth=auth)
        _check_upload(fake.requests[1], api="/api/detection_engine/rules/_import", space="soc", auth=auth)
        assert set(fake.saved_objects["soc"]) == {(o["type"], o["id"]) for o in SAVED}
        assert set(fake.rules["soc"]) == {r["rule_id"] for r in RULES}
        # what was uploaded is the file, byte for byte
        assert fake.saved_objects["soc"][("dashboard", "modelscreen-dashboard-overview")] == \
            next(o for o in SAVED if o["type"] == "dashboard")
    assert report["space"] == "soc"
    assert report["saved_objects"]["success"] is True
    assert report["saved_objects"]["imported"] == len(SAVED) == report["saved_objects"]["total"]
    assert report["detection_rules"]["imported"] == len(RULES) == report["detection_rules"]["total"]
    assert report["saved_objects"]["errors"] == [] and report["detection_rules"]["errors"] == []
    assert f"saved objects: {len(SAVED)}/{len(SAVED)} imported" in result.stderr


def test_second_run_overwrites_and_changes_nothing():
    with FakeKibana(authorization=basic("kibana-admin", "pw")) as fake:
        env = {"MODELSCREEN_KIBANA_USERNAME": "kibana-admin", "MODELSCREEN_KIBANA_PASSWORD": "pw",
               # Kibana credentials win over Elasticsearch ones
               "MODELSCREEN_ELASTICSEARCH_USERNAME": "elastic", "MODELSCREEN_ELASTICSEARCH_PASSWORD": "other"}
        first, r1 = run("--url", fake.url, env=env)
        snapshot = (dict(fake.saved_objects["default"]), dict(fake.rules["default"]))
        second, r2 = run("--url", fake.url, env=env)
        assert first.exit_code == 0 and second.exit_code == 0, second.output
        assert fake.problems == []
        assert (fake.saved_objects["default"], fake.rules["default"]) == snapshot
        assert r2["saved_objects"]["imported"] == len(SAVED) and r2["detection_rules"]["imported"] == len(RULES)
        assert all(not o["overwrite"] for o in r1["saved_objects"]["objects"])
        assert all(o["overwrite"] for o in r2["saved_objects"]["objects"])
        # the default space has no /s/ prefix
        assert [r["path"] for r in fake.requests] == ["/api/saved_objects/_import",
                                                      "/api/detection_engine/rules/_import"] * 2


def test_without_overwrite_kibana_would_report_conflicts():
    """Why the client always sends overwrite=true: the fake, like Kibana, refuses duplicates otherwise."""
    with FakeKibana(authorization=None) as fake:
        client = KibanaClient(fake.url)
        assert client.import_saved_objects(SAVED_OBJECTS_FILE.read_bytes()).ok
        again = client.import_saved_objects(SAVED_OBJECTS_FILE.read_bytes(), overwrite=False)
        assert not again.ok and {e["error"]["type"] for e in again.errors} == {"conflict"}
        assert client.import_detection_rules(DETECTION_RULES_FILE.read_bytes()).ok
        rules_again = client.import_detection_rules(DETECTION_RULES_FILE.read_bytes(), overwrite=False)
        assert not rules_again.ok and len(rules_again.errors) == len(RULES)


def test_api_key_and_skip_rules():
    with FakeKibana(authorization="ApiKey a2V5LWlkOmtleQ==", spaces=("models",)) as fake:
        result, report = run("--url", fake.url + "/", "--space", "models", "--skip-rules",
                             env={"MODELSCREEN_KIBANA_API_KEY": "a2V5LWlkOmtleQ==",
                                  "MODELSCREEN_KIBANA_USERNAME": "ignored"})
        assert result.exit_code == 0, result.output
        assert [r["path"] for r in fake.requests] == ["/s/models/api/saved_objects/_import"]
        assert report["detection_rules"] == "skipped"


def test_url_and_space_from_settings():
    with FakeKibana(authorization=None, spaces=("sec",)) as fake:
        result, _ = run(env={"MODELSCREEN_KIBANA_URL": fake.url, "MODELSCREEN_KIBANA_SPACE": "sec"})
        assert result.exit_code == 0, result.output
        assert {r["space"] for r in fake.requests} == {"sec"}


def test_object_errors_are_reported_and_exit_non_zero(tmp_path: Path):
    broken = [o for o in SAVED if o["type"] != "index-pattern"]  # every reference to a data view dangles
    so_file = tmp_path / "broken.ndjson"
    so_file.write_text("".join(json.dumps(o) + "\n" for o in broken))
    with FakeKibana(authorization=None) as fake:
        fake.reject_rule_ids = {RULES[0]["rule_id"]}
        result, report = run("--url", fake.url, "--saved-objects", str(so_file))
    assert result.exit_code == 1
    so = report["saved_objects"]
    assert so["success"] is False and so["errors"]
    assert {e["error"]["type"] for e in so["errors"]} == {"missing_references"}
    assert {e["id"] for e in so["errors"]} >= {"modelscreen-search-recent-critical", "modelscreen-lens-top-rules"}
    rules = report["detection_rules"]
    assert rules["success"] is False and rules["imported"] == len(RULES) - 1
    assert rules["errors"] == [{"rule_id": RULES[0]["rule_id"],
                                "error": {"status_code": 400, "message": "rejected by test"}}]
    assert "with errors" in result.stderr


def test_rules_file_kibana_refuses_exits_non_zero(tmp_path: Path):
    bad = tmp_path / "rules.ndjson"
    bad.write_text(json.dumps({"rule_id": "x", "name": "no query", "description": "d", "risk_score": 1,
                               "severity": "low", "type": "query"}) + "\n")
    with FakeKibana(authorization=None) as fake:
        result, report = run("--url", fake.url, "--rules", str(bad))
    assert result.exit_code == 1
    assert report["detection_rules"]["errors"][0]["error"]["message"] == "query: Required"


def test_wrong_credentials_unknown_space_and_unreachable_exit_2():
    with FakeKibana(authorization=basic("elastic", "right")) as fake:
        result, report = run("--url", fake.url, env={"MODELSCREEN_KIBANA_USERNAME": "elastic",
                                                     "MODELSCREEN_KIBANA_PASSWORD": "wrong"})
        assert result.exit_code == 2
        assert "HTTP 401" in report["error"] and "MODELSCREEN_KIBANA" in report["error"]
        result, report = run("--url", fake.url, "--space", "nope", env={"MODELSCREEN_KIBANA_USERNAME": "elastic",
                                                                         "MODELSCREEN_KIBANA_PASSWORD": "right"})
        assert result.exit_code == 2 and "HTTP 404" in report["error"] and "'nope'" in report["error"]
        assert len(fake.requests) == 2  # stopped after the saved objects call failed
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    result, report = run("--url", f"http://127.0.0.1:{port}")
    assert result.exit_code == 2 and "cannot reach Kibana" in report["error"]


def test_bad_arguments_are_usage_errors():
    result = CliRunner().invoke(kibana, ["setup", "--url", "localhost:5601"])
    assert result.exit_code == 2 and "not a Kibana URL" in result.output
    result = CliRunner().invoke(kibana, ["setup", "--url", "http://127.0.0.1:5601", "--space", "Bad Space"])
    assert result.exit_code == 2 and "invalid space id" in result.output


def test_kibana_settings_credentials_fall_back_to_elasticsearch(tmp_path: Path, monkeypatch):
    assert KibanaSettings().kibana_auth_header() == {}
    assert KibanaSettings().kibana_url == "http://127.0.0.1:5601"
    s = KibanaSettings(elasticsearch_api_key="ZXM6a2V5")
    assert s.kibana_auth_header() == {"Authorization": "ApiKey ZXM6a2V5"}
    s = KibanaSettings(elasticsearch_username="elastic", elasticsearch_password="pw", kibana_api_key="a2I6a2V5")
    assert s.kibana_auth_header() == {"Authorization": "ApiKey a2I6a2V5"}
    monkeypatch.setenv("MODELSCREEN_KIBANA_URL", "https://kibana.internal:5601")
    monkeypatch.setenv("MODELSCREEN_ELASTICSEARCH_USERNAME", "elastic")
    monkeypatch.setenv("MODELSCREEN_ELASTICSEARCH_PASSWORD", "pw")
    s = KibanaSettings()
    assert s.kibana_url == "https://kibana.internal:5601"
    assert s.kibana_auth_header() == {"Authorization": basic("elastic", "pw")}
    assert s.kibana_ssl_context() is not None
    cfg = tmp_path / "settings.yaml"
    cfg.write_text("kibana_url: http://from-file:5601\nkibana_space: analysts\n")
    monkeypatch.delenv("MODELSCREEN_KIBANA_URL")
    monkeypatch.setenv("MODELSCREEN_CONFIG", str(cfg))
    s = KibanaSettings()
    assert (s.kibana_url, s.kibana_space) == ("http://from-file:5601", "analysts")
    assert s.kibana_client().api_url("/api/x") == "http://from-file:5601/s/analysts/api/x"
