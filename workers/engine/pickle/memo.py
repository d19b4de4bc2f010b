"""The walker's memo, bounded: the first MEMO_FULL entries are kept as they are; beyond that an entry is
kept only in the compact form the analysis can still use (imported globals, call results without their
arguments, short strings that may become import names, tuples that hold such things), up to MEMO_MAX
entries. Everything else is dropped (a GET of it yields MISSING), so a memo-heavy pickle of any size
costs a bounded amount of memory. The C accelerator (_fastwalk.c) applies the same rule."""
from __future__ import annotations

from modelscreen.engine.pickle.values import DATA, MISSING, Bin, Obj, Ref

MEMO_FULL = 200_000  # memo entries kept verbatim
MEMO_MAX = 500_000   # hard cap on memo entries
NAME_MAX = 128       # longer strings cannot be import names: not kept beyond MEMO_FULL


def _item(x):
    t = type(x)
    if t is Ref or t is Obj:
        return x
    if t is bytes and len(x) <= NAME_MAX:
        return x
    return DATA


def compact(v):
    """The form `v` is kept in beyond MEMO_FULL, or MISSING when it is not kept."""
    t = type(v)
    if t is Ref:
        return v
    if t is Obj:
        return Obj(v.fn, (), v.offset)
    if t is bytes:
        return v if len(v) <= NAME_MAX else MISSING
    if t is Bin:
        return v if v.data is None or len(v.data) <= NAME_MAX else Bin(None, v.offset, v.length)
    if t is tuple and any(type(x) is Ref or type(x) is Obj for x in v):
        return tuple(_item(x) for x in v)
    return MISSING


def store(memo: dict, k: int, v, full: int = MEMO_FULL, cap: int = MEMO_MAX) -> bool:
    """memo[k] = v under the bound; False when the entry was dropped (a GET of it yields MISSING)."""
    if len(memo) < full:
        memo[k] = v
        return True
    v = compact(v) if len(memo) < cap or k in memo else MISSING
    if v is MISSING:
        memo.pop(k, None)
        return False
    memo[k] = v
    return True
