"""The simulated board: inputs driven from code, outputs recorded.

- `press()` / `release()` / `tap()` / `set_input()` drive inputs (tests, the emulator panel, the
  HTTP API). They may be called from any thread.
- `history` holds every output change with its time; `outputs()` / `inputs()` the current states.
- With a state file, the current states are written as JSON after every change (atomically:
  write a temporary file, then rename), so another process sees the relay even after this one
  was killed:

      {"pid": 1234, "updated_ms": 5021.3,
       "outputs": {"relay": false, "leds.status": true}, "inputs": {"button": false}}
"""

from __future__ import annotations

import json
import os
import threading
from collections import deque
from dataclasses import dataclass
from pathlib import Path
from typing import Callable

from hal.errors import PinError
from hal.scheduler import Scheduler

HISTORY_LENGTH = 10000


@dataclass(frozen=True)
class OutputChange:
    at_ms: float
    name: str
    active: bool


class SimInputLine:
    def __init__(self, board: SimPins, name: str, active: bool) -> None:
        self._board = board
        self.name = name
        self.active = active
        self._callback: Callable[[bool], None] | None = None

    def read(self) -> bool:
        return self.active

    def watch(self, callback: Callable[[bool], None] | None) -> None:
        self._callback = callback

    def close(self) -> None:
        self._callback = None
        self._board._release(self.name)

    def _drive(self, active: bool) -> None:
        if active != self.active:
            self.active = active
            callback = self._callback
            if callback is not None:
                callback(active)


class SimOutputLine:
    def __init__(self, board: SimPins, name: str) -> None:
        self._board = board
        self.name = name
        self.active = False
        self.closed = False

    def set(self, active: bool) -> None:
        if not self.closed:
            self._board._output_changed(self, active)

    def close(self) -> None:
        if not self.closed:
            self.set(False)
            self.closed = True
            self._board._release(self.name)


class SimPins:
    """A `PinBackend` with no hardware. Pin names are recorded but not interpreted."""

    def __init__(self, scheduler: Scheduler, state_file: Path | None = None) -> None:
        if state_file is not None and not state_file.parent.is_dir():
            raise PinError(f"sim.state_file: {state_file}: the directory does not exist")
        self._scheduler = scheduler
        self._state_file = state_file
        self._lock = threading.RLock()
        self._inputs: dict[str, SimInputLine] = {}
        self._outputs: dict[str, SimOutputLine] = {}
        self._output_states: dict[str, bool] = {}  # kept after close: the last thing driven
        self.history: deque[OutputChange] = deque(maxlen=HISTORY_LENGTH)

    # PinBackend

    def input(self, name: str, pin: str, pull: str, active_high: bool) -> SimInputLine:
        with self._lock:
            self._claim(name)
            line = SimInputLine(self, name, active=False)
            self._inputs[name] = line
            self._write_state()
            return line

    def output(self, name: str, pin: str, active_high: bool) -> SimOutputLine:
        with self._lock:
            self._claim(name)
            line = SimOutputLine(self, name)
            self._outputs[name] = line
            self._output_states[name] = False
            self._write_state()  # a restart shows every output off at once
            return line

    def close(self) -> None:
        with self._lock:
            for line in list(self._outputs.values()):
                line.close()
            for name in list(self._inputs):
                self._release(name)

    # driving inputs

    def set_input(self, name: str, active: bool) -> None:
        with self._lock:
            line = self._inputs.get(name)
            if line is None:
                raise PinError(f"sim: no input named {name!r} (inputs: {', '.join(self._inputs)})")
            line._drive(active)
            self._write_state()

    def press(self, name: str = "button") -> None:
        self.set_input(name, True)

    def release(self, name: str = "button") -> None:
        self.set_input(name, False)

    def tap(self, name: str = "button", hold_ms: int = 200) -> None:
        """Press now, release after `hold_ms` (on the scheduler: call from the loop thread)."""
        self.press(name)
        self._scheduler.call_later(hold_ms / 1000.0, self.release, name)

    # observing outputs

    def outputs(self) -> dict[str, bool]:
        with self._lock:
            return dict(self._output_states)

    def inputs(self) -> dict[str, bool]:
        with self._lock:
            return {name: line.active for name, line in self._inputs.items()}

    def changes(self, name: str) -> list[OutputChange]:
        with self._lock:
            return [change for change in self.history if change.name == name]

    # internals

    def _claim(self, name: str) -> None:
        if name in self._inputs or name in self._outputs:
            raise PinError(f"sim: a device named {name!r} already exists")

    def _release(self, name: str) -> None:
        with self._lock:
            self._inputs.pop(name, None)
            self._outputs.pop(name, None)
            self._write_state()

    def _output_changed(self, line: SimOutputLine, active: bool) -> None:
        with self._lock:
            if line.active == active:
                return
            line.active = active
            self._output_states[line.name] = active
            self.history.append(OutputChange(self._scheduler.time() * 1000.0, line.name, active))
            self._write_state()

    def _write_state(self) -> None:
        if self._state_file is None:
            return
        state = {
            "pid": os.getpid(),
            "updated_ms": self._scheduler.time() * 1000.0,
            "outputs": dict(self._output_states),
            "inputs": {name: line.active for name, line in self._inputs.items()},
        }
        temporary = self._state_file.with_name(f".{self._state_file.name}.{os.getpid()}.tmp")
        temporary.write_text(json.dumps(state, sort_keys=True) + "\n", encoding="utf-8")
        os.replace(temporary, self._state_file)
