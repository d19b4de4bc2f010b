"""HTTP webhook gateway: artifact stores POST their notifications here, the gateway checks who sent
them and produces the raw bytes (with the headers that matter) to the store-events topic. It does not
normalise anything; the workers recognise each event by its shape (modelscreen.sources.intake).

See docs/gateway.md.
"""
