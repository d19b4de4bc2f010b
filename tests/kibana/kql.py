"""A small KQL (Kibana Query Language) parser: the subset the modelscreen saved objects and rules use.

Supported: `field : value`, `field : "quoted value"`, `field : (a or b and not c)`, `field : *`,
wildcards in unquoted values (`SIGNATURE-*`), ranges `field >= 73` (also >, <, <=), `and` / `or` / `not`
(case-insensitive) and parentheses. Not supported (rejected, so an asset using them fails its test):
free text without a field, nested `field : { ... }` queries, field names with wildcards.

`fields(kql)` lists the field names a query refers to; `to_query_dsl(kql)` translates it the way
Kibana does for keyword/numeric/date fields (and -> bool.filter, or -> bool.should, not -> bool.must_not,
quoted -> match_phrase, unquoted -> match, wildcard -> wildcard, `*` -> exists, ranges -> range).
"""
from __future__ import annotations

import re
from dataclasses import dataclass
from typing import Any

_KEYWORDS = {"and", "or", "not"}
_RANGE_OPS = {">=": "gte", "<=": "lte", ">": "gt", "<": "lt"}
# Characters that end an unquoted literal (KQL special characters and whitespace).
_SPECIAL = set('\\():<>"{} \t\r\n')


class KqlError(ValueError):
    pass


@dataclass(frozen=True)
class Token:
    kind: str  # WORD, QUOTED, LPAREN, RPAREN, COLON, RANGE, LBRACE, RBRACE, EOF
    text: str
    pos: int


def tokenize(kql: str) -> list[Token]:
    tokens: list[Token] = []
    i, n = 0, len(kql)
    while i < n:
        c = kql[i]
        if c.isspace():
            i += 1
        elif c == "(":
            tokens.append(Token("LPAREN", c, i))
            i += 1
        elif c == ")":
            tokens.append(Token("RPAREN", c, i))
            i += 1
        elif c == "{":
            tokens.append(Token("LBRACE", c, i))
            i += 1
        elif c == "}":
            tokens.append(Token("RBRACE", c, i))
            i += 1
        elif c == ":":
            tokens.append(Token("COLON", c, i))
            i += 1
        elif c in "<>":
            op = kql[i:i + 2] if kql[i + 1:i + 2] == "=" else c
            tokens.append(Token("RANGE", op, i))
            i += len(op)
        elif c == '"':
            j, out = i + 1, []
            while j < n and kql[j] != '"':
                if kql[j] == "\\" and j + 1 < n:
                    j += 1
                out.append(kql[j])
                j += 1
            if j >= n:
                raise KqlError(f"unterminated quoted string at {i}")
            tokens.append(Token("QUOTED", "".join(out), i))
            i = j + 1
        else:
            j, out = i, []
            while j < n and kql[j] not in _SPECIAL:
                out.append(kql[j])
                j += 1
            while j < n and kql[j] == "\\" and j + 1 < n:  # escaped special character inside a literal
                out.append(kql[j + 1])
                j += 2
                while j < n and kql[j] not in _SPECIAL:
                    out.append(kql[j])
                    j += 1
            if j == i:
                raise KqlError(f"unexpected {kql[i]!r} at {i}")
            tokens.append(Token("WORD", "".join(out), i))
            i = j
    tokens.append(Token("EOF", "", n))
    return tokens


# AST: ("and", [..]) ("or", [..]) ("not", node) ("match", field, value, quoted) ("exists", field)
#      ("range", field, op, value)
class _Parser:
    def __init__(self, kql: str):
        self.kql = kql
        self.tokens = tokenize(kql)
        self.i = 0

    def peek(self) -> Token:
        return self.tokens[self.i]

    def take(self, kind: str | None = None) -> Token:
        tok = self.tokens[self.i]
        if kind and tok.kind != kind:
            raise KqlError(f"expected {kind} at {tok.pos}, found {tok.text or tok.kind!r} in {self.kql!r}")
        self.i += 1
        return tok

    def is_kw(self, word: str) -> bool:
        tok = self.peek()
        return tok.kind == "WORD" and tok.text.lower() == word

    def parse(self):
        node = self.or_expr()
        self.take("EOF")
        return node

    def or_expr(self):
        parts = [self.and_expr()]
        while self.is_kw("or"):
            self.take()
            parts.append(self.and_expr())
        return parts[0] if len(parts) == 1 else ("or", parts)

    def and_expr(self):
        parts = [self.not_expr()]
        while self.is_kw("and"):
            self.take()
            parts.append(self.not_expr())
        return parts[0] if len(parts) == 1 else ("and", parts)

    def not_expr(self):
        if self.is_kw("not"):
            self.take()
            return ("not", self.not_expr())
        return self.primary()

    def primary(self):
        tok = self.peek()
        if tok.kind == "LPAREN":
            self.take()
            node = self.or_expr()
            self.take("RPAREN")
            return node
        if tok.kind != "WORD" or tok.text.lower() in _KEYWORDS:
            raise KqlError(f"expected a field name at {tok.pos} in {self.kql!r}")
        field = self.take().text
        if "*" in field:
            raise KqlError(f"wildcard field names are not supported: {field}")
        nxt = self.peek()
        if nxt.kind == "RANGE":
            op = self.take().text
            value = self.take()
            if value.kind not in ("WORD", "QUOTED"):
                raise KqlError(f"expected a value after {field} {op}")
            return ("range", field, _RANGE_OPS[op], value.text)
        if nxt.kind != "COLON":
            raise KqlError(f"free text ({field!r}) is not supported; write field : value in {self.kql!r}")
        self.take("COLON")
        if self.peek().kind == "LBRACE":
            raise KqlError("nested queries (field : { ... }) are not supported")
        return self.value_or(field)

    # values after `field :`
    def value_or(self, field: str):
        if self.peek().kind == "LPAREN":
            self.take()
            node = self._value_or_inner(field)
            self.take("RPAREN")
            return node
        return self.value(field)

    def _value_or_inner(self, field: str):
        parts = [self._value_and(field)]
        while self.is_kw("or"):
            self.take()
            parts.append(self._value_and(field))
        return parts[0] if len(parts) == 1 else ("or", parts)

    def _value_and(self, field: str):
        parts = [self._value_not(field)]
        while self.is_kw("and"):
            self.take()
            parts.append(self._value_not(field))
        return parts[0] if len(parts) == 1 else ("and", parts)

    def _value_not(self, field: str):
        if self.is_kw("not"):
            self.take()
            return ("not", self._value_not(field))
        if self.peek().kind == "LPAREN":
            self.take()
            node = self._value_or_inner(field)
            self.take("RPAREN")
            return node
        return self.value(field)

    def value(self, field: str):
        tok = self.take()
        if tok.kind == "QUOTED":
            return ("match", field, tok.text, True)
        if tok.kind != "WORD":
            raise KqlError(f"expected a value for {field} at {tok.pos} in {self.kql!r}")
        if tok.text == "*":
            return ("exists", field)
        return ("match", field, tok.text, False)


def parse(kql: str):
    if not kql.strip():
        return ("all",)
    return _Parser(kql).parse()


def _walk(node, out: list[str]) -> None:
    kind = node[0]
    if kind in ("and", "or"):
        for child in node[1]:
            _walk(child, out)
    elif kind == "not":
        _walk(node[1], out)
    elif kind in ("match", "exists", "range"):
        out.append(node[1])


def fields(kql: str) -> list[str]:
    """Field names in a KQL query, in order of appearance, without duplicates."""
    out: list[str] = []
    _walk(parse(kql), out)
    return list(dict.fromkeys(out))


def uses(kql: str) -> list[tuple[str, str]]:
    """(field, how) pairs: how is match, wildcard, exists or range."""
    out: list[tuple[str, str]] = []

    def walk(node):
        kind = node[0]
        if kind in ("and", "or"):
            for child in node[1]:
                walk(child)
        elif kind == "not":
            walk(node[1])
        elif kind == "match":
            out.append((node[1], "wildcard" if (not node[3] and "*" in node[2]) else "match"))
        elif kind in ("exists", "range"):
            out.append((node[1], kind))

    walk(parse(kql))
    return out


def _number(value: str) -> Any:
    if re.fullmatch(r"-?\d+", value):
        return int(value)
    if re.fullmatch(r"-?\d+\.\d*", value):
        return float(value)
    return value  # dates and date math are passed through


def _dsl(node) -> dict:
    kind = node[0]
    if kind == "all":
        return {"match_all": {}}
    if kind == "and":
        return {"bool": {"filter": [_dsl(c) for c in node[1]]}}
    if kind == "or":
        return {"bool": {"should": [_dsl(c) for c in node[1]], "minimum_should_match": 1}}
    if kind == "not":
        return {"bool": {"must_not": [_dsl(node[1])]}}
    if kind == "exists":
        return {"exists": {"field": node[1]}}
    if kind == "range":
        return {"range": {node[1]: {node[2]: _number(node[3])}}}
    _, field, value, quoted = node
    if quoted:
        return {"match_phrase": {field: value}}
    if "*" in value:
        return {"wildcard": {field: {"value": value}}}
    return {"match": {field: value}}


def to_query_dsl(kql: str) -> dict:
    return _dsl(parse(kql))
