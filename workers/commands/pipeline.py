"""`modelscreen setup`, `worker`, `dlq replay`, `send`: the Kafka/Elasticsearch pipeline."""
from __future__ import annotations

import json
import sys
from pathlib import Path

import click

from modelscreen import metrics
from modelscreen.dlq import Replay
from modelscreen.engine.yara.loader import default_ruleset
from modelscreen.gc_tuning import tune_for_worker
from modelscreen.logs import configure
from modelscreen.provenance.es_inventory import install_template
from modelscreen.retrohunt import plan
from modelscreen.settings import load_settings
from modelscreen.sinks.es_setup import install, set_kibana_system_password
from modelscreen.topics import ARTIFACT_EVENTS, STORE_EVENTS, create_topics

config_option = click.option("--config", type=click.Path(exists=True, dir_okay=False, path_type=Path), default=None,
                             help="YAML settings file (environment variables MODELSCREEN_* win over it).")


def _settings(config: Path | None):
    return load_settings(config)


@click.command()
@config_option
@click.option("--skip-kafka", is_flag=True)
@click.option("--skip-elasticsearch", is_flag=True)
def setup(config: Path | None, skip_kafka: bool, skip_elasticsearch: bool) -> None:
    """Create the topics and install the Elasticsearch templates (idempotent)."""
    settings = _settings(config)
    out: dict = {}
    if not skip_kafka:
        out["topics"] = create_topics(settings)
    if not skip_elasticsearch:
        es = settings.elasticsearch_client()
        try:
            kibana_password = settings.secret("kibana_system_password")
            if kibana_password:
                set_kibana_system_password(es, kibana_password)
                out["kibana_system_password"] = "set"
            out["elasticsearch"] = install(es, findings_target=settings.findings_data_stream,
                                           artifacts_index=settings.artifacts_index)

            install_template(es, settings.inventory_index)
            out["elasticsearch"]["inventory"] = settings.inventory_index
        finally:
            es.close()
    click.echo(json.dumps(out, indent=2))


@click.command()
@config_option
@click.option("--loglevel", default="info", show_default=True)
@click.option("--stage", type=click.Choice(["scan", "evaluate"]), default="scan", show_default=True,
              help="scan: the scanning stages; evaluate: behaviour evaluations (needs evaluate_enabled).")
def worker(config: Path | None, loglevel: str, stage: str) -> None:
    """Run the stream workers (normalise, scan, alert, rules; or the evaluate stage). Scale by starting more."""
    from modelscreen.agents.shutdown import BoundedWorker  # lazy: Faust, needed by this command only
    from modelscreen.app import create_app  # lazy: Faust and every agent, needed by this command only

    configure(loglevel)
    settings = _settings(config)
    if stage == "evaluate" and not settings.evaluate_enabled:
        raise click.ClickException("the evaluate stage is off: set evaluate_enabled (MODELSCREEN_EVALUATE_ENABLED=1)")
    app, _rt = create_app(settings, stage=stage)
    tune_for_worker()
    try:
        metrics.serve(settings.metrics_port)
    except OSError as exc:
        click.echo(f"metrics endpoint not started: {exc}", err=True)
    BoundedWorker(app, loglevel=loglevel, quiet=True, redirect_stdouts=False,
                  shutdown_grace=settings.shutdown_grace).execute_from_commandline()


@click.command()
@config_option
@click.argument("files", nargs=-1, type=click.Path(exists=True, dir_okay=False, path_type=Path))
@click.option("--header", "headers", multiple=True, help="KEY=VALUE Kafka header (CloudEvents binary mode).")
def send(config: Path | None, files: tuple[Path, ...], headers: tuple[str, ...]) -> None:
    """Produce raw store events (files, or JSON lines on standard input) to the store-events topic."""
    from kafka import KafkaProducer

    settings = _settings(config)
    values = [f.read_bytes() for f in files] or [line.encode() for line in sys.stdin if line.strip()]
    hdrs = [(k, v.encode()) for k, _, v in (h.partition("=") for h in headers)]
    producer = KafkaProducer(acks="all", **settings.kafka_python_config())
    for v in values:
        producer.send(settings.topic(STORE_EVENTS), value=v, headers=hdrs or None)
    producer.flush()
    producer.close()
    click.echo(json.dumps({"sent": len(values), "topic": settings.topic(STORE_EVENTS)}))


@click.group()
def dlq() -> None:
    """Dead letters: list them, and re-queue them after a fix."""


@dlq.command("replay")
@config_option
@click.option("--stage", help="Only dead letters from this stage (intake, scan, fetch, index, alert).")
@click.option("--limit", type=int, default=None, help="At most this many.")
@click.option("--dry-run", is_flag=True, help="Show what would be re-queued, consume nothing.")
@click.option("--timeout", type=float, default=5.0, show_default=True, help="Stop after this long without messages.")
def dlq_replay(config: Path | None, stage: str | None, limit: int | None, dry_run: bool, timeout: float) -> None:
    """Re-queue dead letters to the topic they came from, with their original key, bytes and headers.

    Each stage remembers what was replayed (its own consumer offsets), so `--stage` leaves the other stages'
    dead letters for later. A run stops at the end of the topic as it was when it started: each dead letter is
    replayed at most once per run. One JSON line per dead letter on stdout; a summary on stderr.
    `--dry-run` only lists.
    """
    settings = _settings(config)
    run = Replay(settings, stage=stage, limit=limit, dry_run=dry_run, idle_timeout=timeout)
    for line in run.run():
        click.echo(json.dumps(line))
    click.echo(json.dumps(run.summary), err=True)


@click.command()
@config_option
@click.option("--ruleset", "ruleset_version", help="Re-scan what was not scanned with this ruleset version "
              "(default: the version of the local rule library).")
@click.option("--store", help="Only artifacts seen in this store kind (s3, harbor, huggingface, ...).")
@click.option("--name", help="Only artifacts with a name matching this wildcard pattern.")
@click.option("--verdict", type=click.Choice(["clean", "suspicious", "malicious", "error"]))
@click.option("--all", "include_current", is_flag=True, help="Also artifacts already scanned with the ruleset.")
@click.option("--dry-run", is_flag=True, help="List what would be re-scanned.")
def retrohunt(config: Path | None, ruleset_version: str | None, store: str | None, name: str | None,
              verdict: str | None, include_current: bool, dry_run: bool) -> None:
    """Queue artifacts scanned with an older ruleset for a new scan (runs by itself after `rules publish`)."""
    from kafka import KafkaProducer

    settings = _settings(config)
    if not ruleset_version:
        rs, reason = default_ruleset()
        if rs is None:
            raise click.ClickException(f"no local rule library ({reason}); pass --ruleset")
        ruleset_version = rs.version
    es = settings.elasticsearch_client()
    try:
        events = plan(es, settings.artifacts_index, ruleset_version, store=store, name=name, verdict=verdict,
                      include_current=include_current)
    finally:
        es.close()
    if not dry_run and events:
        producer = KafkaProducer(acks="all", **settings.kafka_python_config())
        for e in events:
            producer.send(settings.topic(ARTIFACT_EVENTS), key=e.expected_sha256.encode(),
                          value=e.model_dump_json().encode())
        producer.flush()
        producer.close()
    for e in events:
        click.echo(json.dumps({"sha256": e.expected_sha256, "uri": e.uri, "queued": not dry_run}))
    click.echo(json.dumps({"ruleset": ruleset_version, "artifacts": len(events), "queued": not dry_run}), err=True)
