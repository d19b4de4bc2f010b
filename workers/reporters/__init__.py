"""Turn scan reports into what people and tools read: table, JSON, SARIF; and the other tables the CLI prints."""
from modelscreen.reporters.base import FORMATS, Renderer, output_format
from modelscreen.reporters.json_report import render_json
from modelscreen.reporters.safe import serialisable
from modelscreen.reporters.sarif import render_sarif
from modelscreen.reporters.table import render_table

RENDERERS: dict[str, Renderer] = {"json": render_json, "sarif": render_sarif, "table": render_table}

__all__ = ["FORMATS", "RENDERERS", "Renderer", "output_format", "render_json", "render_sarif", "render_table",
           "serialisable"]
