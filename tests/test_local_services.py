"""`deploy/local/services kafka-runtime`: where a private broker's jars and Java are, or exit 3 before `build`."""
from __future__ import annotations

import re
import subprocess
from pathlib import Path

import pytest

REPO_ROOT = Path(__file__).resolve().parents[1]
SCRIPT = REPO_ROOT / "deploy" / "local" / "services"


def _runtime(home: Path) -> subprocess.CompletedProcess:
    out = subprocess.run(["bash", str(SCRIPT), "kafka-runtime"], capture_output=True, text=True, timeout=60,
                         env={"PATH": "/usr/bin:/bin", "MODELSCREEN_SERVICES_HOME": str(home)})
    if out.returncode == 1 and "no Java" in out.stderr:
        pytest.skip("no Java 17+ on this machine")
    return out


def _kafka_version() -> str:
    pom = (SCRIPT.parent / "kafka-pom.xml").read_text()
    return re.search(r"<kafka.version>(.*?)</kafka.version>", pom).group(1)


def test_before_build_it_exits_3_and_says_to_build(tmp_path):
    out = _runtime(tmp_path)
    assert out.returncode == 3 and out.stdout == ""
    assert "services build" in out.stderr


def test_after_build_it_prints_java_libs_and_logging_config(tmp_path):
    dist = tmp_path / "dist" / f"kafka-{_kafka_version()}"
    (dist / "libs").mkdir(parents=True)
    (dist / ".complete").write_text("done\n")
    out = _runtime(tmp_path)
    assert out.returncode == 0, out.stderr
    values = dict(line.split("=", 1) for line in out.stdout.splitlines())
    assert set(values) == {"JAVA", "KAFKA_LIBS", "KAFKA_LOG4J"}
    assert Path(values["JAVA"]).name == "java" and Path(values["JAVA"]).is_file()
    assert values["KAFKA_LIBS"] == str(dist / "libs")
    assert Path(values["KAFKA_LOG4J"]) == SCRIPT.parent / "kafka-log4j2.properties"
