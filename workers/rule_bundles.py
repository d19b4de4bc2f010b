"""Rule bundles in the pipeline: build with samples, publish to the compacted topic, validate before use."""
from __future__ import annotations

import importlib.util
import sys
from pathlib import Path
from types import ModuleType

from modelscreen.schemas.rules import RuleBundle, RuleSample
from modelscreen.engine.yara.loader import Ruleset, RulesetError, ruleset_from_bundle
from modelscreen.engine.yara.matcher import match
from modelscreen.topics import RULE_BUNDLES

BUNDLE_KEY = b"yara"
MAX_SAMPLE_BYTES = 2 * 1024 * 1024
MAX_BUNDLE_BYTES = 16 * 1024 * 1024


class SamplesError(ValueError):
    """A samples module that cannot be imported or defines no build_samples()."""


def load_samples(path: str | Path) -> ModuleType:
    """Import a samples module (rules/samples.py) from its file; it must define build_samples()."""
    path = Path(path)
    name = f"_modelscreen_rule_samples_{abs(hash(str(path.resolve())))}"
    spec = importlib.util.spec_from_file_location(name, path)
    if spec is None or spec.loader is None:
        raise SamplesError(f"cannot import samples from {path}")
    mod = importlib.util.module_from_spec(spec)
    sys.modules[name] = mod  # dataclasses look their module up while the class is built
    try:
        spec.loader.exec_module(mod)
    except Exception:
        sys.modules.pop(name, None)
        raise
    if not hasattr(mod, "build_samples"):
        raise SamplesError(f"{path} defines no build_samples()")
    return mod


def with_samples(bundle: RuleBundle, samples_path: Path | None) -> RuleBundle:
    """Attach the samples that rules/samples.py builds (each at most MAX_SAMPLE_BYTES)."""
    if samples_path is None or not samples_path.exists():
        return bundle
    built = load_samples(samples_path).build_samples()
    return bundle.model_copy(update={"samples": [
        RuleSample(name=s.name, data=s.data, expect=sorted(s.expect)) for s in built if len(s.data) <= MAX_SAMPLE_BYTES
    ]})


def validate(bundle: RuleBundle, engine: str | None = None) -> Ruleset:
    """Compile the bundle and check every sample matches exactly what it declares. Raises RulesetError."""
    ruleset = ruleset_from_bundle(bundle, engine)
    known = {r.meta.id for r in ruleset.rules}
    problems = []
    for sample in bundle.samples:
        unknown = set(sample.expect) - known
        if unknown:
            problems.append(f"sample {sample.name} expects unknown rules {sorted(unknown)}")
            continue
        got = {m.meta.id for m in match(ruleset, sample.data, timeout=10)}
        if got != set(sample.expect):
            problems.append(f"sample {sample.name}: expected {sorted(sample.expect)}, matched {sorted(got)}")
    if problems:
        raise RulesetError(problems)
    return ruleset


def publish(settings, bundle: RuleBundle) -> dict:
    """Produce the bundle to the compacted rule-bundles topic (latest bundle wins)."""
    from kafka import KafkaProducer  # lazy: the CLI imports this module, only publishing needs Kafka's client

    value = bundle.model_dump_json().encode()
    if len(value) > MAX_BUNDLE_BYTES:
        raise ValueError(f"bundle is {len(value)} bytes, more than {MAX_BUNDLE_BYTES}")
    producer = KafkaProducer(acks="all", max_request_size=MAX_BUNDLE_BYTES + 65536, **settings.kafka_python_config())
    try:
        meta = producer.send(settings.topic(RULE_BUNDLES), key=BUNDLE_KEY, value=value).get(timeout=60)
    finally:
        producer.close()
    return {"topic": meta.topic, "partition": meta.partition, "offset": meta.offset, "version": bundle.version,
            "rules": len(bundle.rules), "samples": len(bundle.samples), "bytes": len(value)}
