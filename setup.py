"""Only the optional C accelerator; all metadata lives in pyproject.toml."""
from setuptools import Extension, setup

setup(
    ext_modules=[
        Extension(
            "workers.engine.pickle._fastwalk",
            sources=["workers/engine/pickle/_fastwalk.c"],
            optional=True,  # without a C compiler the pure-Python walker is used
        ),
    ],
)
