"""modelscreen: screens AI model artifacts without loading them."""
from importlib.metadata import PackageNotFoundError, version

try:
    __version__ = version("modelscreen")  # the one place it is set: pyproject.toml
except PackageNotFoundError:  # a source tree on sys.path without an install
    __version__ = "0.0.0+unknown"
