"""Could these bytes be a pickle? The one place that decides it (the sniffer and the pickle analyzer ask).

The opcodes CPython's unpickler accepts first are derived from `pickletools`' opcode table: every
opcode that needs nothing on the stack, except the memo reads and writes (a fresh unpickler has an
empty memo and an empty stack, so GET/PUT fail first).
"""
from __future__ import annotations

import pickletools
import warnings

# Memo opcodes: stack_before is empty in the table, but they fail on a fresh unpickler.
_MEMO_OPCODES = frozenset({"GET", "BINGET", "LONG_BINGET", "PUT", "BINPUT", "LONG_BINPUT"})

FIRST_OPCODES: frozenset[int] = frozenset(
    ord(op.code) for op in pickletools.opcodes if not op.stack_before and op.name not in _MEMO_OPCODES)
_PROTO = ord(next(op.code for op in pickletools.opcodes if op.name == "PROTO"))
HIGHEST_PROTOCOL = max(op.proto for op in pickletools.opcodes)

# Opcodes through which an unpickler imports or calls something
_CODE_OPCODE_NAMES = frozenset({"GLOBAL", "STACK_GLOBAL", "INST", "OBJ", "REDUCE", "NEWOBJ", "NEWOBJ_EX", "BUILD",
                                "EXT1", "EXT2", "EXT4", "PERSID", "BINPERSID"})
CODE_OPCODES: frozenset[int] = frozenset(ord(op.code) for op in pickletools.opcodes if op.name in _CODE_OPCODE_NAMES)

# pickletools' messages when an argument runs past the bytes it was given
_CUT_MESSAGES = ("remain", "no newline found", "exhausted before seeing STOP")


def may_start_pickle(head: bytes) -> bool:
    """Cheap test: the first opcode is one an unpickler accepts first (PROTO with a known protocol)."""
    if not head:
        return False
    if head[0] == _PROTO:
        return len(head) < 2 or head[1] <= HIGHEST_PROTOCOL
    return head[0] in FIRST_OPCODES


def looks_like_pickle(head: bytes, *, cut: bool) -> bool:
    """Stricter test for sniffing: the opcodes parse up to STOP (at least two opcodes), or, when `head`
    is only the start of the data (`cut`), parse until the head ends (an argument may run past it)."""
    if not may_start_pickle(head):
        return False
    if head[0] == _PROTO:
        return True
    ops = 0
    try:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore", DeprecationWarning)  # pickletools on odd STRING escapes
            for op, _arg, _pos in pickletools.genops(head):
                ops += 1
                if op.name == "STOP":
                    return ops >= 2
    except Exception as exc:  # noqa: BLE001 - genops raises assorted errors on bad input
        return cut and any(m in str(exc) for m in _CUT_MESSAGES)
    return False


def may_run_code(data: bytes) -> bool:
    """For bytes the sniffer did not take for a pickle: would an unpickler reach an import or a call before
    the stream breaks? (Random data that merely starts with a valid opcode does not.)"""
    if not may_start_pickle(data):
        return False
    try:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore", DeprecationWarning)
            for op, arg, _pos in pickletools.genops(data):
                if ord(op.code) in CODE_OPCODES and not (op.name.startswith("EXT") and arg <= 0):
                    return True  # (extension code 0 and below are refused by every unpickler)
                if op.name == "STOP":
                    return False
    except Exception:  # noqa: BLE001 - where genops gives up, so does the unpickler
        return False
    return False
