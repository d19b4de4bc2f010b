"""Package layout and the optional C accelerator; all metadata lives in pyproject.toml.

The design card keeps `workers/`, `schemas/`, `rules/` and `deploy/` at the top of the repository;
they install as one import package, `modelscreen`:

    workers/            -> modelscreen            (engine, stages, sinks, CLI)
    schemas/            -> modelscreen.schemas    (pydantic boundary models, JSON Schema)
    rules/              -> modelscreen.rules      (the YARA rule library, package data)
    deploy/             -> modelscreen.deploy     (Elasticsearch templates, Kibana assets, policy example)
"""
from pathlib import Path

from setuptools import Extension, setup

HERE = Path(__file__).parent
ROOTS = {"modelscreen": "workers", "modelscreen.schemas": "schemas",
         "modelscreen.rules": "rules", "modelscreen.deploy": "deploy"}


def packages() -> list[str]:
    """Every package below each root (a folder with an __init__.py), named under `modelscreen`."""
    found = []
    for name, folder in ROOTS.items():
        for init in sorted((HERE / folder).rglob("__init__.py")):
            rel = init.parent.relative_to(HERE / folder).parts
            if "__pycache__" not in rel:
                found.append(".".join((name, *rel)))
    return found


setup(
    packages=packages(),
    package_dir=ROOTS,
    package_data={
        "modelscreen.schemas": ["json/*.json"],
        "modelscreen.rules": ["README.md", "yara/*/*.yar"],
        "modelscreen.deploy": ["elasticsearch/*.json", "kibana/*.ndjson", "policy.example.yaml"],
        "modelscreen.engine.pickle.tables": ["*.json"],
    },
    include_package_data=False,
    ext_modules=[
        Extension(
            "modelscreen.engine.pickle._fastwalk",
            sources=["workers/engine/pickle/_fastwalk.c"],
            optional=True,  # without a C compiler the pure-Python walker is used
        ),
    ],
)
