"""`modelscreen kibana setup`: import the data views, saved searches, Lens visualizations, dashboard and
detection rules of deploy/kibana into Kibana (idempotent: objects with the same ids are overwritten)."""
from __future__ import annotations

import json
import sys
from pathlib import Path

import click

from modelscreen.kibana import DETECTION_RULES_FILE, KibanaError, KibanaSettings, SAVED_OBJECTS_FILE

EXIT_OK, EXIT_IMPORT_ERRORS, EXIT_UNREACHABLE = 0, 1, 2

config_option = click.option("--config", type=click.Path(exists=True, dir_okay=False, path_type=Path), default=None,
                             help="YAML settings file (environment variables MODELSCREEN_* win over it).")


@click.group()
def kibana() -> None:
    """Kibana: dashboards, saved searches and Elastic Security detection rules for the findings."""


@kibana.command("setup")
@config_option
@click.option("--url", default=None, help="Kibana base URL (default: MODELSCREEN_KIBANA_URL, http://127.0.0.1:5601).")
@click.option("--space", default=None, help="Kibana space id to import into (default: MODELSCREEN_KIBANA_SPACE, "
                                            "else the default space).")
@click.option("--skip-rules", is_flag=True, help="Import the saved objects only, not the detection rules.")
@click.option("--saved-objects", "saved_objects_file", type=click.Path(exists=True, dir_okay=False, path_type=Path),
              default=None, help="Saved objects NDJSON (default: deploy/kibana/saved-objects.ndjson).")
@click.option("--rules", "rules_file", type=click.Path(exists=True, dir_okay=False, path_type=Path), default=None,
              help="Detection rules NDJSON (default: deploy/kibana/detection-rules.ndjson).")
def setup(config: Path | None, url: str | None, space: str | None, skip_rules: bool,
          saved_objects_file: Path | None, rules_file: Path | None) -> None:
    """Import the saved objects and detection rules (overwriting earlier imports).

    Prints what Kibana reported as JSON. Exit status: 0 everything imported, 1 Kibana reported errors
    for some objects or rules, 2 Kibana could not be reached or refused the request.
    """
    if config is not None:
        import os

        os.environ["MODELSCREEN_CONFIG"] = str(config)
    settings = KibanaSettings()
    saved_objects_file = saved_objects_file or SAVED_OBJECTS_FILE
    rules_file = rules_file or DETECTION_RULES_FILE
    for path, what in ((saved_objects_file, "--saved-objects"), (None if skip_rules else rules_file, "--rules")):
        if path is not None and not path.is_file():
            raise click.UsageError(f"{path} not found; pass {what} PATH")
    try:
        client = settings.kibana_client(url=url, space=space)
    except ValueError as exc:
        raise click.UsageError(str(exc)) from None

    out: dict = {"kibana": client.url, "space": client.space or "default"}
    failed = False
    try:
        result = client.import_saved_objects(saved_objects_file.read_bytes(), filename=saved_objects_file.name)
        out["saved_objects"] = result.summary()
        failed |= not result.ok
        if skip_rules:
            out["detection_rules"] = "skipped"
        else:
            rules = client.import_detection_rules(rules_file.read_bytes(), filename=rules_file.name)
            out["detection_rules"] = rules.summary()
            failed |= not rules.ok
    except KibanaError as exc:
        out["error"] = str(exc)
        click.echo(json.dumps(out, indent=2))
        click.echo(f"error: {exc}", err=True)
        sys.exit(EXIT_UNREACHABLE)

    click.echo(json.dumps(out, indent=2))
    parts = [f"saved objects: {out['saved_objects']['imported']}/{out['saved_objects']['total']} imported"]
    if isinstance(out["detection_rules"], dict):
        parts.append(f"detection rules: {out['detection_rules']['imported']}/{out['detection_rules']['total']} "
                     "imported")
    click.echo("; ".join(parts) + ("; with errors" if failed else ""), err=True)
    sys.exit(EXIT_IMPORT_ERRORS if failed else EXIT_OK)
