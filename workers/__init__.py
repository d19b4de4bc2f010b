"""modelscreen: screens AI model artifacts without loading them."""

__version__ = "0.1.0"
