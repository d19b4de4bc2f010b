"""Chat-template analysis (workers/engine/templates.py): parsed into a Jinja syntax tree, never rendered."""
from __future__ import annotations

import jinja2
import pytest

from tests.fixtures import make_formats as mf
from modelscreen.engine.templates import check_template


def rules(issues):
    return {i.rule_id for i in issues}


def worst(issues):
    return max((i.severity.rank for i in issues), default=-1)


@pytest.mark.parametrize("name", sorted(mf.BENIGN_TEMPLATES))
def test_real_templates_are_clean(name):
    assert check_template(mf.BENIGN_TEMPLATES[name]) == []


@pytest.mark.parametrize("name", sorted(mf.MALICIOUS_TEMPLATES))
def test_injection_templates_are_critical(name):
    issues = check_template(mf.MALICIOUS_TEMPLATES[name])
    assert worst(issues) == 4, [(i.rule_id, i.severity.value) for i in issues]
    assert all(i.line == 1 for i in issues if i.severity.value == "critical")


@pytest.mark.parametrize("src,rule", [
    ("{{ x.__class__ }}", "TEMPLATE-DUNDER-ACCESS"),
    ("{{ x['__globals__'] }}", "TEMPLATE-DUNDER-ACCESS"),
    ("{{ x|attr('__subclasses__') }}", "TEMPLATE-DUNDER-ACCESS"),
    ("{{ x|selectattr('__mro__') }}", "TEMPLATE-DUNDER-ACCESS"),
    ("{{ x.f_globals }}", "TEMPLATE-DUNDER-ACCESS"),
    ("{{ x|attr('__cla' ~ 'ss__') }}", "TEMPLATE-OBFUSCATED-NAME"),
    ("{{ x|attr('__cla' + 'ss__') }}", "TEMPLATE-OBFUSCATED-NAME"),
    ("{{ x|attr('%c%cbase%c%c'|format(95, 95, 95, 95)) }}", "TEMPLATE-OBFUSCATED-NAME"),
    ("{{ x|attr('%c%cbase%c%c' % (95, 95, 95, 95)) }}", "TEMPLATE-OBFUSCATED-NAME"),
    ("{{ x|attr('{}{}init{}{}'.format('_', '_', '_', '_')) }}", "TEMPLATE-OBFUSCATED-NAME"),
    ("{{ x|attr('__tropmi__'|reverse) }}", "TEMPLATE-OBFUSCATED-NAME"),
    ("{{ x|attr('\\x5f\\x5fclass\\x5f\\x5f') }}", "TEMPLATE-DUNDER-ACCESS"),
    ("{% set a = '__buil' %}{% set b = a ~ 'tins__' %}{{ x[b] }}", "TEMPLATE-DUNDER-ACCESS"),
    ("{{ '{0.__class__}'.format(x) }}", "TEMPLATE-DUNDER-ACCESS"),
])
def test_dunder_access_is_critical(src, rule):
    issues = check_template(src)
    hit = [i for i in issues if i.rule_id == rule]
    assert hit and hit[0].severity.value == "critical", issues


@pytest.mark.parametrize("src,rule,sev", [
    ("{{ '__class__' }}", "TEMPLATE-DUNDER-STRING", "high"),
    ("{{ lipsum.x }}", "TEMPLATE-GADGET-ACCESS", "high"),
    ("{{ namespace.x }}", "TEMPLATE-GADGET-ACCESS", "high"),
    ("{{ self.x }}", "TEMPLATE-GADGET-ACCESS", "high"),
    ("{{ x|attr(y) }}", "TEMPLATE-DYNAMIC-ATTRIBUTE", "high"),
    ("{{ '{0.attr}'.format(x) }}", "TEMPLATE-FORMAT-FIELD-ACCESS", "high"),
    ("{{ cycler('a', 'b').next() }}", "TEMPLATE-SUSPICIOUS-GLOBAL", "medium"),
    ("{{ config }}", "TEMPLATE-SUSPICIOUS-GLOBAL", "medium"),
    ("{{ request.args }}", "TEMPLATE-SUSPICIOUS-GLOBAL", "medium"),
    ("{% for i in range(10**9) %}{% endfor %}", "TEMPLATE-RESOURCE-EXHAUSTION", "medium"),
    ("{{ 'x' * 100000000 }}", "TEMPLATE-RESOURCE-EXHAUSTION", "medium"),
    ("{% include 'other.jinja' %}", "TEMPLATE-LOADS-TEMPLATE", "medium"),
    ("{% import 'macros' as m %}", "TEMPLATE-LOADS-TEMPLATE", "medium"),
    ("{{ x._private }}", "TEMPLATE-PRIVATE-ATTRIBUTE", "medium"),
    ("{{ x|attr('content') }}", "TEMPLATE-ATTR-FILTER", "low"),
])
def test_other_rules(src, rule, sev):
    issues = check_template(src)
    hit = [i for i in issues if i.rule_id == rule]
    assert hit and hit[0].severity.value == sev, issues


@pytest.mark.parametrize("src", ["{% for m in messages %}{{ m.content }}", "{{ x ", "{% if %}{% endif %}",
                                 "{% endfor %}"])
def test_syntax_error_is_medium(src):
    issues = check_template(src)
    assert [i.rule_id for i in issues] == ["TEMPLATE-SYNTAX-ERROR"]
    assert issues[0].severity.value == "medium"


def test_line_numbers_point_at_the_offending_line():
    src = "{% for m in messages %}\n{{ m.content }}\n{{ m.__class__ }}\n{% endfor %}"
    [issue] = check_template(src)
    assert issue.line == 3 and "__class__" in issue.evidence


@pytest.mark.parametrize("src", [
    "{% set ns = namespace(found=false) %}{% for m in messages %}{% set ns.found = true %}{% endfor %}",
    "{{ raise_exception('bad role') }}", "{{ strftime_now('%d %b %Y') }}", "{{ messages[::-1]|tojson }}",
    "{{ (messages|length - 1) }}{{ loop }}", "{% for k, v in tool.items() %}{{ k }}{% endfor %}",
    "{{ '<|im_start|>' ~ message.role }}", "{{ 'a,b'.split(',')[0].strip() }}",
])
def test_common_idioms_stay_clean(src):
    assert check_template(src) == []


def test_huge_template_is_not_parsed():
    issues = check_template("x" * (2 << 20))
    assert [i.rule_id for i in issues] == ["TEMPLATE-TOO-LARGE"]


def test_deep_nesting_does_not_crash():
    issues = check_template("{{ " + "(" * 5000 + "1" + ")" * 5000 + " }}")
    assert issues and issues[0].severity.value == "medium"


def test_templates_are_never_rendered_or_compiled(monkeypatch):
    def boom(*a, **k):
        raise AssertionError("a template was compiled or rendered")

    monkeypatch.setattr(jinja2.Environment, "compile", boom)
    monkeypatch.setattr(jinja2.Environment, "from_string", boom)
    monkeypatch.setattr(jinja2.Template, "render", boom)
    for src in [*mf.BENIGN_TEMPLATES.values(), *mf.MALICIOUS_TEMPLATES.values()]:
        check_template(src)
