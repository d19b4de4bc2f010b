"""Faust agents, one per stage: normalise, scan, index, alert. `modelscreen.app` wires them."""
