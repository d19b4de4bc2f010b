"""The scanning engine: bytes in, findings out. Imports nothing of Kafka, Elasticsearch, HTTP or the CLI."""
from modelscreen.engine.limits import Limits
from modelscreen.engine.scanner import ENGINE_VERSION, scan_bytes, scan_path, scan_paths, scan_stream

__all__ = ["ENGINE_VERSION", "Limits", "scan_bytes", "scan_path", "scan_paths", "scan_stream"]
