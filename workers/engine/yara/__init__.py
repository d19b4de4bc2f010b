"""YARA rules over artifact bytes: the library in rules/yara, compiled with YARA-X (default) or yara-python."""
from modelscreen.engine.yara.loader import (
    MatchTimeout,
    Ruleset,
    RulesetError,
    default_rules_dir,
    default_ruleset,
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
    "default_rules_dir",
    "default_ruleset",
    "load_ruleset",
    "match",
    "reset_default_ruleset",
    "ruleset_from_bundle",
]
