"""Harbor's pluggable scanner API (spec v1.2): modelscreen as the scanner a Harbor operator plugs in.

api (aiohttp routes under /api/v1) -> jobs (asynchronous scans: in-process through the sandbox, or through
the Kafka pipeline) -> package (pull and scan one OCI artifact) -> reports (Harbor's report MIME types);
auth (who may call the adapter), cache (results by manifest digest, engine and ruleset version).
"""
