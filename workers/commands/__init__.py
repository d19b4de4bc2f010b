"""Subcommands of `modelscreen`, one module per area."""
