"""Structured JSON logs; the event being handled is on every line."""
from __future__ import annotations

import contextvars
import json
import logging
import sys
from datetime import datetime, timezone

from modelscreen.log_limits import RepeatLimiter

current_event_id: contextvars.ContextVar[str | None] = contextvars.ContextVar("event_id", default=None)


class JsonFormatter(logging.Formatter):
    def format(self, record: logging.LogRecord) -> str:
        doc = {
            "@timestamp": datetime.fromtimestamp(record.created, timezone.utc).isoformat().replace("+00:00", "Z"),
            "log.level": record.levelname.lower(),
            "log.logger": record.name,
            "message": record.getMessage(),
        }
        event_id = getattr(record, "event_id", None) or current_event_id.get()
        if event_id:
            doc["event.id"] = event_id
        if record.exc_info:
            doc["error.stack_trace"] = self.formatException(record.exc_info)
        return json.dumps(doc, default=str)


def configure(level: str = "INFO") -> None:
    handler = logging.StreamHandler(sys.stderr)
    handler.setFormatter(JsonFormatter())
    handler.addFilter(RepeatLimiter())
    root = logging.getLogger()
    root.handlers[:] = [handler]
    root.setLevel(level.upper())


LOGGING_CONFIG = {
    "version": 1,
    "disable_existing_loggers": False,
    "formatters": {"json": {"()": "modelscreen.logs.JsonFormatter"}},
    "filters": {"repeats": {"()": "modelscreen.log_limits.RepeatLimiter"}},
    "handlers": {"stderr": {"class": "logging.StreamHandler", "formatter": "json", "stream": "ext://sys.stderr",
                            "filters": ["repeats"]}},
    "root": {"handlers": ["stderr"], "level": "INFO"},
    # the Elasticsearch client logs every request at INFO
    "loggers": {"elastic_transport": {"level": "WARNING"}},
}
