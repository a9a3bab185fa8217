"""Which power source a bench reads, the idle baseline, and each variant's energy.

The host sends the device's ``[devices.NAME.power]`` table (shared/power_config.py).
Without one the agent discovers the board's own source (agent/power_sources.py);
with ``command`` it runs a meter on the board; with ``where = "host"`` the host reads
the meter and this side only reports the windows. Every path without a reading ends
in a Power record that says why, never a zero.
"""

import time
from dataclasses import dataclass
from typing import Optional

from ..shared.errors import ProtocolError
from ..shared.energy import energy_record, over_windows, round_traces
from ..shared.measurement import Power
from ..shared.meter import CommandMeter, MeterError
from ..shared.power_config import PowerConfig
from .power_sampler import Sampler
from .power_sources import discover
from .sensors import sysfs_root

# How often a long wait (idle baseline, cool-down) tells the host it is still alive.
WAIT_REPORT_S = 5.0


def wait_reporting(seconds, log, why):
    """Sleep, telling the host every few seconds (it counts silence as a hung agent)."""
    end = time.monotonic() + seconds
    while True:
        left = end - time.monotonic()
        if left <= 0:
            return
        time.sleep(min(left, WAIT_REPORT_S))
        if end - time.monotonic() > 0:
            log("%s: %.0f s left" % (why, end - time.monotonic()))


@dataclass
class IdleBaseline:
    mean_w: Optional[float] = None
    seconds: float = 0.0
    samples: int = 0
    reason: Optional[str] = None   # why mean_w is None

    def to_dict(self):
        return {"mean_w": self.mean_w, "seconds": self.seconds, "samples": self.samples, "reason": self.reason}


class PowerPlan:
    """What this bench reads power from, or why it reads none."""

    def __init__(self, sensors, config, source=None, meter=None, reason=None):
        self.sensors, self.config = sensors, config
        self.source, self.meter, self.reason = source, meter, reason

    @classmethod
    def from_args(cls, data, settings, sensors):
        try:
            config = PowerConfig.from_wire(data)
        except ValueError as exc:
            raise ProtocolError("bad power settings: %s" % exc)
        if not settings.sample_power:
            # Only power: temperature and clock traces are cheap sysfs reads and are what
            # tells a user the board throttled, so they stay on.
            return cls(sensors, config, reason="power sampling was turned off (sample_power = false)")
        if config.where == "host":
            return cls(sensors, config, reason="read by the host's meter")
        if config.command:
            meter = CommandMeter(config.command, config.unit)
            try:
                meter.start()
            except MeterError as exc:
                return cls(sensors, config, reason=str(exc))
            return cls(sensors, config, meter=meter)
        found = discover(sysfs_root(), sensors.vcgencmd, source=config.source, rail=config.rail)
        return cls(sensors, config, source=found.source, reason=found.reason)

    @property
    def reads_power(self):
        return self.source is not None or self.meter is not None

    def start_sampler(self):
        """The sampler thread: power when this plan reads it, temperature and clocks always."""
        return Sampler(self.sensors, source=self.source, meter=self.meter).start()

    def describe(self):
        if self.source is not None:
            return dict(self.source.describe(), where="board")
        if self.meter is not None:
            return dict(self.meter.describe(), where="board")
        return {"reason": self.reason, "where": self.config.where}

    def empty(self, reason=None):
        """The Power record of a variant this plan cannot measure."""
        return Power(measured=False, reason=reason or self.reason, where=self.config.where)


def idle_baseline(plan, sampler, idle_s, log, when="before"):
    """Mean power with nothing measuring, over ``idle_s`` seconds, from the same sampler."""
    if not plan.reads_power:
        return IdleBaseline(reason=plan.reason)
    if not idle_s:
        return IdleBaseline(reason="no idle baseline was asked for (idle_s = 0)")
    t0 = time.monotonic()
    wait_reporting(idle_s, log, "idle power baseline (%s)" % when)
    t1 = time.monotonic()
    sampler.close_window(t1)
    energy, _ = sampler.energy(t0, t1)
    if not energy.known:
        return IdleBaseline(seconds=t1 - t0, reason=sampler.failure() or energy.missing)
    return IdleBaseline(mean_w=energy.joules / (t1 - t0), seconds=round(t1 - t0, 3), samples=energy.samples)


def variant_power(plan, sampler, measurement, idle):
    """The energy of a variant's timed windows: gross, net of idle, per inference."""
    if not measurement.ok or measurement.latency_pass is None:
        return plan.empty("the variant was not timed")
    if not plan.reads_power:
        return plan.empty()
    windows = measurement.latency_pass.windows()
    if windows:
        sampler.close_window(windows[-1][0][1])
    total, missing = over_windows(windows, lambda t0, t1: sampler.energy(t0, t1)[0])
    if total is None:
        return plan.empty(sampler.failure() or missing)
    record = energy_record(plan.describe(), total.joules, total.seconds, total.inferences, total.samples,
                           idle.mean_w)
    record.trace = round_traces(measurement.latency_pass, sampler.power_trace)
    return record
