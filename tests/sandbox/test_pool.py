"""The warm pool: limits inside the child, failures as typed errors, dead children replaced."""
import signal
import socket
import threading

import pytest

from modelscreen.sandbox import (SandboxCrash, SandboxError, SandboxLimits, SandboxMemoryExceeded, SandboxPool,
                                 SandboxTimeout)
from modelscreen.sandbox.runner import died
from tests.sandbox import hostile


@pytest.fixture(scope="module")
def pool():
    with SandboxPool(2, SandboxLimits(memory_bytes=1024**3, wall_seconds=20, cpu_seconds=10)) as p:
        yield p


def test_limits_are_set_in_the_child_and_it_cannot_reach_the_network(pool):
    server = socket.create_server(("127.0.0.1", 0))
    port = server.getsockname()[1]
    accepted = []
    t = threading.Thread(target=lambda: accepted.append(server.accept()), daemon=True)
    t.start()
    try:
        seen = pool.run(hostile.probe, port)
    finally:
        server.close()
    assert seen["no_new_privs"] == 1
    assert seen["as"] == 1024**3
    assert seen["core"] == 0
    assert seen["nofile"] <= 256
    assert seen["network"] != "connected" and not accepted
    status = pool.isolation()
    assert status["no_new_privs"] and (status["netns"] or status["seccomp"])


def test_children_are_reused_and_exceptions_cross_back(pool):
    assert pool.run(hostile.echo, {"a": [1, 2]}) == {"a": [1, 2]}
    pids = {pool.run(hostile.pid) for _ in range(6)}
    assert len(pids) <= 2  # warm: no child per call
    with pytest.raises(SandboxError) as err:
        pool.run(hostile.raise_value_error)
    assert err.value.exc_type == "ValueError" and "bad input" in str(err.value)
    assert type(err.value) is SandboxError


def test_a_task_that_cannot_be_pickled_costs_no_child(pool):
    before = pool.replaced
    with pytest.raises(SandboxError, match="cannot be sent"):
        pool.run(lambda: 1)
    assert pool.replaced == before and pool.run(hostile.echo, 3) == 3


def test_segfault_is_a_crash_and_the_child_is_replaced(pool):
    before = pool.replaced
    with pytest.raises(SandboxCrash, match="SIGSEGV"):
        pool.run(hostile._segv)
    assert pool.replaced == before + 1
    assert pool.run(hostile.echo, 7) == 7


def test_memory_bomb_is_a_memory_error(pool):
    with pytest.raises(SandboxMemoryExceeded):
        pool.run(hostile._memory_bomb)
    assert pool.run(hostile.echo, "still here") == "still here"


def test_hang_inside_c_is_killed_on_the_wall_clock(pool):
    with pytest.raises(SandboxTimeout):
        pool.run(hostile._hang_in_c, wall_seconds=1.5)
    assert pool.run(hostile.echo, 1) == 1


def test_cpu_spin_is_stopped_by_the_cpu_limit():
    with SandboxPool(1, SandboxLimits(cpu_seconds=1, wall_seconds=30)) as p:
        with pytest.raises(SandboxTimeout, match="CPU"):
            p.run(hostile._spin)
        assert p.run(hostile.echo, 2) == 2


def test_exit_signals_map_to_errors():
    assert isinstance(died(-signal.SIGXCPU), SandboxTimeout)
    assert isinstance(died(-signal.SIGKILL), SandboxCrash)
    assert isinstance(died(-signal.SIGABRT), SandboxCrash)
    assert isinstance(died(3), SandboxCrash)
