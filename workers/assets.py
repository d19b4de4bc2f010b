"""Where the deployment data shipped inside the package lives: Elasticsearch templates, Kibana assets.

(The YARA library is found by the engine itself: `engine.yara.loader.default_rules_dir`.)

Found through the import system, so the same lookup serves a wheel, an editable install and the
source tree. MODELSCREEN_TEMPLATES_DIR and MODELSCREEN_KIBANA_ASSETS_DIR (read through
`settings.AssetSettings`) stay as overrides.
"""
from __future__ import annotations

import importlib.util
from pathlib import Path

from modelscreen.settings import AssetSettings


def package_dir(package: str) -> Path:
    """The folder of an installed data package such as `modelscreen.rules`."""
    spec = importlib.util.find_spec(package)
    if spec is None or not spec.submodule_search_locations:
        raise FileNotFoundError(f"package data {package!r} is not installed")
    return Path(next(iter(spec.submodule_search_locations)))


def templates_dir() -> Path:
    return AssetSettings().templates_dir or package_dir("modelscreen.deploy") / "elasticsearch"


def kibana_dir() -> Path:
    return AssetSettings().kibana_assets_dir or package_dir("modelscreen.deploy") / "kibana"
