"""Sampling power, temperature and frequency while children measure.

The sampler is a thread of the agent's own process, not of the measuring child: the
child times inference with nothing else in its interpreter (no GIL handover, no
extra thread on its core's run queue beyond one short read every period), and the
agent integrates over the window the child reports on the shared monotonic clock.
The same run gives latency and energy; nothing is measured twice.

A power source (agent/power_sources.py) is polled every ``period_s``; a meter command
(shared/meter.py) pushes its own readings. Temperatures and frequencies are polled
every ``THERMAL_PERIOD_S`` for the traces of each window.
"""

import threading
import time

from ..shared.energy import between, power_trace, window_energy

THERMAL_PERIOD_S = 0.5
MAX_READINGS = 1000000


class _Polled:
    """A sysfs or vcgencmd source read on a timer."""

    def __init__(self, source):
        self.source = source
        self.kind = source.kind
        self.wrap_j = source.wrap_j
        self.period_s = source.period_s
        self.readings = []
        self.errors = 0
        self.last_error = None

    def poll(self, clock):
        try:
            value = self.source.read()
        except Exception as exc:  # a sensor that fails once must not end the sampler
            self.errors += 1
            self.last_error = str(exc)[:200]
            return
        if len(self.readings) < MAX_READINGS:
            self.readings.append((clock(), value))

    def snapshot(self):
        return list(self.readings)

    def describe(self):
        return self.source.describe()

    def failure(self):
        if not self.readings and self.errors:
            return "every read of %s failed: %s" % (self.source.name, self.last_error)
        return None

    def stop(self):
        self.source.close()


class _Pushed:
    """A meter command: it reads itself; the sampler only asks for its readings."""

    def __init__(self, meter):
        self.meter = meter
        self.kind = meter.kind
        self.wrap_j = None
        self.period_s = None

    def poll(self, clock):
        pass

    def snapshot(self):
        return self.meter.snapshot()

    def describe(self):
        return self.meter.describe()

    def failure(self):
        return self.meter.failure()

    def stop(self):
        self.meter.stop()


class Sampler:
    """Polls a power source and the thermal sensors until stopped."""

    def __init__(self, sensors, source=None, meter=None, clock=time.monotonic):
        self.sensors = sensors
        self.clock = clock
        self.power = _Polled(source) if source is not None else (_Pushed(meter) if meter is not None else None)
        self.thermal = []   # [(t, max temperature C or None, {policy: cur kHz})]
        self._stop = threading.Event()
        self._thread = None
        self._lock = threading.Lock()

    def start(self):
        if isinstance(self.power, _Pushed):
            self.power.meter.wait_for_first_reading()
        self._poll_power()
        self._poll_thermal()
        self._thread = threading.Thread(target=self._loop, name="edgeshrink-sampler", daemon=True)
        self._thread.start()
        return self

    def poll(self):
        """Read the power source now (a sysfs source; a meter reads itself)."""
        self._poll_power()

    def _poll_power(self):
        if self.power is not None:
            with self._lock:
                self.power.poll(self.clock)

    def _poll_thermal(self):
        now = self.clock()
        freqs = {name: f.get("cur") for name, f in self.sensors.cpufreq_khz().items() if f.get("cur")}
        if len(self.thermal) < MAX_READINGS:
            self.thermal.append((now, self.sensors.hottest_c(), freqs))

    def _loop(self):
        power_period = self.power.period_s if self.power is not None else None
        next_power = self.clock() + power_period if power_period else None
        next_thermal = self.clock() + THERMAL_PERIOD_S
        while not self._stop.is_set():
            due = min(t for t in (next_power, next_thermal) if t is not None)
            if self._stop.wait(max(0.0, due - self.clock())):
                break
            now = self.clock()
            if next_power is not None and now >= next_power:
                self._poll_power()
                next_power += power_period
                if next_power < now:   # fell behind (a slow read): do not burst to catch up
                    next_power = now + power_period
            if now >= next_thermal:
                self._poll_thermal()
                next_thermal = now + THERMAL_PERIOD_S

    def stop(self):
        self._stop.set()
        if self._thread is not None:
            self._thread.join(timeout=5)
        if self.power is not None:
            self.power.stop()

    def close_window(self, t1):
        """Make sure a power reading at or after ``t1`` exists, so the window can be closed."""
        if self.power is None:
            return
        if isinstance(self.power, _Pushed):
            self.power.meter.wait_to_close(t1)
        else:
            self._poll_power()

    def energy(self, t0, t1):
        """(WindowEnergy, readings used) for [t0, t1]."""
        with self._lock:
            readings = between(self.power.snapshot(), t0, t1)
        return window_energy(readings, self.power.kind, t0, t1, self.power.wrap_j), readings

    def power_trace(self, t0, t1):
        """[[seconds since t0, W]] through the window (shared/energy.power_trace)."""
        with self._lock:
            readings = self.power.snapshot()
        return power_trace(readings, self.power.kind, t0, t1, self.power.wrap_j)

    def thermal_trace(self, t0, t1):
        """[[seconds since t0, max temperature C, lowest current frequency MHz]] inside the window,
        with the readings just before and after it."""
        rows = [r for r in self.thermal if t0 - THERMAL_PERIOD_S <= r[0] <= t1 + THERMAL_PERIOD_S]
        trace = []
        for t, temp, freqs in rows:
            lowest = min(freqs.values()) / 1000.0 if freqs else None
            trace.append([round(t - t0, 3), temp, lowest])
        return trace

    def failure(self):
        return self.power.failure() if self.power is not None else None
