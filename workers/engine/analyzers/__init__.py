"""Per-format analyzers, one module per format family: see `registry.py` (how to add one) and `all.py`."""
