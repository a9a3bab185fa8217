"""An external power meter: a command that prints one reading per line.

Users measure wall or USB power with meters whose tools print a number per line
(``[devices.NAME.power] command = [...]``). The command runs for the whole bench,
each line is timestamped on arrival with the monotonic clock, and energy over a
window comes from shared/energy.py. ``unit`` says what a line holds: ``W`` (watts)
or ``J`` (cumulative joules). A line may end with its unit (``4.87 W``); a line that
is not a finite, non-negative number (a banner, a blank line) is counted and skipped.

It runs on the board (``where = "board"``, sampled by the agent) or on the host
(``where = "host"``); the module is standard library only for the agent's sake.
"""

import math
import re
import subprocess
import threading
import time

from .energy import ENERGY, POWER

UNITS = {"W": POWER, "J": ENERGY}
_LINE = re.compile(r"^\s*([-+]?(?:\d+\.?\d*|\.\d+)(?:[eE][-+]?\d+)?)\s*([A-Za-z]*)\s*$")
# Lines are short; a meter that prints without newlines must not grow memory for ever.
MAX_LINE_BYTES = 4096
MAX_READINGS = 1000000
STDERR_TAIL_BYTES = 2048
# A meter tool may take a while to open its device; beyond this it is not working.
FIRST_READING_TIMEOUT_S = 10.0
# After a window ends, how long to wait for the reading that closes it, in meter periods.
CLOSING_PERIODS = 3


class MeterError(Exception):
    """The meter command could not start or stopped early; one line saying why."""


def parse_line(text, unit):
    """The reading on one line, or None when the line holds no reading in ``unit``."""
    match = _LINE.match(text)
    if not match:
        return None
    given = match.group(2)
    if given and given != unit:
        return None
    try:
        value = float(match.group(1))
    except ValueError:
        return None
    if not math.isfinite(value) or value < 0:
        return None
    return value


class CommandMeter:
    """Runs ``command`` and keeps its readings as [(monotonic time, value)]."""

    def __init__(self, command, unit="W", clock=time.monotonic):
        if unit not in UNITS:
            raise MeterError("meter unit must be one of %s, got %r" % (", ".join(UNITS), unit))
        self.command = list(command)
        self.unit = unit
        self.kind = UNITS[unit]
        self.clock = clock
        self.readings = []
        self.skipped_lines = 0
        self._lock = threading.Lock()
        self._process = None
        self._threads = []
        self._stderr = b""

    @property
    def name(self):
        return "command"

    def start(self):
        try:
            self._process = subprocess.Popen(self.command, stdin=subprocess.DEVNULL, stdout=subprocess.PIPE,
                                             stderr=subprocess.PIPE)
        except OSError as exc:
            raise MeterError("the meter command %r could not start: %s" % (self.command[0], exc.strerror or exc))
        for target in (self._read_stdout, self._read_stderr):
            thread = threading.Thread(target=target, daemon=True)
            thread.start()
            self._threads.append(thread)
        return self

    def _read_stdout(self):
        for raw in iter(lambda: self._process.stdout.readline(MAX_LINE_BYTES), b""):
            now = self.clock()
            value = parse_line(raw.decode("utf-8", "replace"), self.unit)
            with self._lock:
                if value is None:
                    self.skipped_lines += 1
                elif len(self.readings) < MAX_READINGS:
                    self.readings.append((now, value))

    def _read_stderr(self):
        for chunk in iter(lambda: self._process.stderr.read(512), b""):
            self._stderr = (self._stderr + chunk)[-STDERR_TAIL_BYTES:]

    def snapshot(self):
        with self._lock:
            return list(self.readings)

    def wait_for_first_reading(self, timeout_s=FIRST_READING_TIMEOUT_S):
        """Block until the meter has printed its first reading: a window that starts before
        it could not be integrated."""
        return self.wait_for_reading_after(float("-inf"), timeout_s)

    def wait_to_close(self, t):
        """Wait (a few of the meter's periods) for the reading that closes a window ending at t."""
        return self.wait_for_reading_after(t, CLOSING_PERIODS * (self.period_s() or 1.0) + 1.0)

    def wait_for_reading_after(self, t, timeout_s):
        """Block until a reading later than ``t`` arrives (the window's right edge needs one)."""
        deadline = time.monotonic() + timeout_s
        while time.monotonic() < deadline:
            with self._lock:
                if self.readings and self.readings[-1][0] >= t:
                    return True
            if self._process is not None and self._process.poll() is not None:
                return False
            time.sleep(0.01)
        return False

    def failure(self):
        """Why the meter gives no readings, or None while it does."""
        if self._process is None:
            return "the meter command was not started"
        code = self._process.poll()
        if code is not None and code != 0:
            tail = self._stderr.decode("utf-8", "replace").strip().splitlines()
            return "the meter command exited with status %d%s" % (code, (": " + tail[-1][:200]) if tail else "")
        if not self.snapshot():
            return ("the meter command printed no reading in %s (%d line(s) skipped)"
                    % (self.unit, self.skipped_lines))
        return None

    def period_s(self):
        """The median interval between readings, or None with fewer than two."""
        times = [t for t, _ in self.snapshot()]
        gaps = sorted(b - a for a, b in zip(times, times[1:]))
        return gaps[len(gaps) // 2] if gaps else None

    def stop(self):
        process = self._process
        if process is None:
            return
        if process.poll() is None:
            process.terminate()
            try:
                process.wait(timeout=2)
            except subprocess.TimeoutExpired:
                process.kill()
                process.wait()
        for thread in self._threads:
            thread.join(timeout=2)

    def describe(self):
        return {"name": "command", "rail": "meter", "kind": self.kind, "unit": self.unit,
                "command": self.command, "period_s": self.period_s()}
