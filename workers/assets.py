"""Where the deployment data shipped inside the package lives: Elasticsearch templates, Kibana assets.

(The YARA library is found by the engine itself: `engine.yara.loader.default_rules_dir`.)

Found through the import system, so the same lookup serves a wheel, an editable install and the
source tree. The MODELSCREEN_*_DIR variables stay as overrides (a rule library of your own, say).
"""
from __future__ import annotations

import importlib.util
import os
from pathlib import Path


def package_dir(package: str) -> Path:
    """The folder of an installed data package such as `modelscreen.rules`."""
    spec = importlib.util.find_spec(package)
    if spec is None or not spec.submodule_search_locations:
        raise FileNotFoundError(f"package data {package!r} is not installed")
    return Path(next(iter(spec.submodule_search_locations)))


def _dir(env: str, package: str, sub: str) -> Path:
    override = os.environ.get(env)
    return Path(override) if override else package_dir(package) / sub


def templates_dir() -> Path:
    return _dir("MODELSCREEN_TEMPLATES_DIR", "modelscreen.deploy", "elasticsearch")


def kibana_dir() -> Path:
    return _dir("MODELSCREEN_KIBANA_ASSETS_DIR", "modelscreen.deploy", "kibana")
