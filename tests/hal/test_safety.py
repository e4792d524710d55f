"""Every output off at exit, on SIGTERM/SIGINT, on an unhandled error; SIGKILL leaves the relay as
it was and the restart switches it off at once. Real processes, hard timeouts, all stopped."""

from __future__ import annotations

import json
import select
import signal
import time

import pytest

from hal import ManualScheduler, guard_outputs, load_profile, open_hal

pytestmark = pytest.mark.timeout(60)


def read_state(path):
    return json.loads(path.read_text())


def wait_for_line(process, timeout=10.0):
    ready, _, _ = select.select([process.stdout], [], [], timeout)
    stderr = process.stderr.read() if process.poll() is not None else ""
    assert ready, f"no output within {timeout} s; stderr: {stderr}"
    return process.stdout.readline().strip()


def start(processes, state_file, mode):
    process = processes.start("-m", "tests.hal.relay_holder", str(state_file), mode)
    expected = "READY" if mode == "idle" else "ENERGISED"
    assert wait_for_line(process) == expected
    return process


def test_sigterm_switches_the_relay_off(processes, tmp_path):
    state = tmp_path / "state.json"
    process = start(processes, state, "hold")
    assert read_state(state)["outputs"]["relay"] is True
    process.send_signal(signal.SIGTERM)
    assert process.wait(timeout=10) == 128 + signal.SIGTERM
    final = read_state(state)
    assert final["pid"] == process.pid
    assert final["outputs"]["relay"] is False
    assert not any(final["outputs"].values())


def test_sigint_switches_the_relay_off(processes, tmp_path):
    state = tmp_path / "state.json"
    process = start(processes, state, "hold")
    process.send_signal(signal.SIGINT)
    assert process.wait(timeout=10) != 0
    assert read_state(state)["outputs"]["relay"] is False


def test_an_unhandled_error_switches_the_relay_off(processes, tmp_path):
    state = tmp_path / "state.json"
    process = start(processes, state, "crash")
    assert process.wait(timeout=10) == 1
    assert "simulated firmware bug" in process.stderr.read()
    assert read_state(state)["outputs"]["relay"] is False


def test_sigkill_leaves_the_relay_on_and_the_restart_switches_it_off_at_once(processes, tmp_path):
    state = tmp_path / "state.json"
    first = start(processes, state, "hold")
    first.kill()
    assert first.wait(timeout=10) == -signal.SIGKILL
    after_kill = read_state(state)  # still a whole JSON document: it is replaced atomically
    assert after_kill["pid"] == first.pid
    assert after_kill["outputs"]["relay"] is True, "nothing can run on SIGKILL: the state shows on"

    started = time.monotonic()
    second = processes.start("-m", "tests.hal.relay_holder", str(state), "idle")
    while True:
        current = read_state(state)
        if current["pid"] == second.pid:
            break
        assert time.monotonic() - started < 10, "the restart did not take over the relay"
        assert second.poll() is None, second.stderr.read()
        time.sleep(0.01)
    assert current["outputs"]["relay"] is False
    assert wait_for_line(second) == "READY"
    second.send_signal(signal.SIGTERM)
    assert second.wait(timeout=10) == 128 + signal.SIGTERM


def test_guard_outputs_in_process():
    with open_hal(load_profile("sim"), ManualScheduler(), lambda event: None) as hal:
        restore = guard_outputs(hal)
        try:
            hal.relay.on()
            hal.leds["status"].on()
            with pytest.raises(SystemExit) as exit_:
                signal.raise_signal(signal.SIGTERM)
            assert exit_.value.code == 128 + signal.SIGTERM
            assert not hal.relay.is_energised
            assert hal.sim.outputs() == {name: False for name in hal.sim.outputs()}
        finally:
            restore()
    assert signal.getsignal(signal.SIGTERM) is signal.SIG_DFL
