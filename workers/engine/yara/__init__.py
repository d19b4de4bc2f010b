"""YARA rules over artifact bytes: the library in rules/yara, compiled with YARA-X (default) or yara-python."""
from modelscreen.engine.yara.loader import (
    MatchTimeout,
    Ruleset,
    RulesetError,
    configure_default_ruleset,
    default_rules_dir,
    default_ruleset,
    default_source,
    load_ruleset,
    reset_default_ruleset,
    ruleset_from_bundle,
)
from modelscreen.engine.yara.matcher import RuleMatch, match

__all__ = [
    "MatchTimeout",
    "RuleMatch",
    "Ruleset",
    "RulesetError",
    "configure_default_ruleset",
    "default_rules_dir",
    "default_ruleset",
    "default_source",
    "load_ruleset",
    "match",
    "reset_default_ruleset",
    "ruleset_from_bundle",
]
