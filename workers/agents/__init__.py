"""Faust agents, one per stage: normalise, scan, index, alert. `workers.app` wires them."""
