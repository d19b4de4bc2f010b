"""The committed, generated tables the pickle analyzer judges with (never the scanning host's modules)."""
from __future__ import annotations

import pickletools

from modelscreen.engine.pickle import callables as C
from modelscreen.engine.pickle import opcodes, tables


def test_opcodes_come_from_the_stdlib_table():
    for op in pickletools.opcodes:
        assert opcodes.CODE[op.name] == ord(op.code)
    assert opcodes.BININT1 == ord("K") and opcodes.STACK_GLOBAL == 0x93 and opcodes.NAME[0x95] == "FRAME"


def test_tables_record_what_they_were_made_from():
    assert tables.MADE_FROM["python"].startswith("3.")
    assert {"numpy", "sklearn"} <= set(tables.MADE_FROM)
    assert tables.GADGETS and tables.ALIASES and tables.KNOWN_SAFE


def test_resolution_follows_module_aliases():
    assert tables.resolve("tempfile", "_os.system")[0] == "posix.system"
    assert tables.resolve("sklearn.base", "np")[0] == "numpy"
    assert tables.resolve("os.path", "join")[0].startswith("posixpath")
    assert tables.resolve("unknown_pkg.mod", "Thing") == ("unknown_pkg.mod.Thing", "object")


def test_trust_does_not_survive_traversal():
    assert C.classify_path("sklearn.base", "np.load").level == C.DANGEROUS
    assert C.classify_path("sklearn.linear_model", "LogisticRegression").level == C.SAFE
    # a trusted prefix reached through more than one attribute is not trusted by prefix
    assert C.classify_path("sklearn.base", "np.ndarray").level != C.DANGEROUS


def test_gadget_map_flags_stdlib_helpers():
    for module, name in [("uuid", "_get_command_stdout"), ("typing", "get_type_hints"),
                         ("tempfile", "mkstemp"), ("collections", "namedtuple")]:
        assert C.classify_path(module, name).level == C.DANGEROUS, (module, name)
    assert C.gadget_for_call("bz2.BZ2File", "REDUCE") is not None
    assert C.classify_path("collections", "OrderedDict").level == C.SAFE


def test_applied_arguments_are_declared_for_every_applier():
    assert C.APPLIES["functools.partial"][0] == (0,)
    assert "key" in C.APPLIES["builtins.sorted"][1]
    assert C.APPLIES["collections.defaultdict"][0] == (0,)
