"""A meter read on the host (``[devices.NAME.power] where = "host"``).

Many power meters plug into the machine running edgeshrink, not the board: a USB
power meter, a lab supply with a serial port. The meter command runs here for the
whole bench; the agent reports each timed window on its own monotonic clock, and the
two clocks are related by ping: the offset is taken at the fastest round trip, and
half that round trip bounds where a window edge really fell. That bound, times the
mean power, is the energy's uncertainty from the link delay, reported with it.
"""

import time
from dataclasses import dataclass
from typing import Optional

from ..shared.conventions import Op
from ..shared.energy import energy_record, over_windows, power_trace, round_traces, window_energy
from ..shared.errors import ConnectError
from ..shared.measurement import Power
from ..shared.meter import CommandMeter, MeterError

PINGS = 5


@dataclass
class ClockLink:
    offset_s: float          # agent monotonic - host monotonic
    half_rtt_s: float        # the uncertainty of one mapped instant

    def to_host(self, agent_t):
        return agent_t - self.offset_s


def clock_link(session, pings=PINGS):
    """The agent's clock offset, from the ping with the shortest round trip."""
    best = None
    for _ in range(pings):
        sent = time.monotonic()
        reply = session.call(Op.PING)
        back = time.monotonic()
        agent_t = reply.get("monotonic") if isinstance(reply, dict) else None
        if not isinstance(agent_t, (int, float)) or isinstance(agent_t, bool):
            raise ConnectError("the agent's ping carries no clock reading (an older agent?)")
        rtt = back - sent
        if best is None or rtt < best[0]:
            best = (rtt, agent_t - (sent + back) / 2.0)
    return ClockLink(offset_s=best[1], half_rtt_s=best[0] / 2.0)


@dataclass
class HostMeterRun:
    """The meter running through one bench call, with what the windows need."""

    meter: CommandMeter
    link: Optional[ClockLink] = None
    idle_w: Optional[float] = None
    idle_after_w: Optional[float] = None
    idle_reason: Optional[str] = None

    @classmethod
    def start(cls, config):
        meter = CommandMeter(config.command, config.unit)
        meter.start()   # MeterError: the caller turns it into "not measured"
        meter.wait_for_first_reading()
        return cls(meter)

    def idle(self, seconds):
        """Mean power over ``seconds`` with nothing measuring; None with the reason."""
        if not seconds:
            self.idle_reason = "no idle baseline was asked for (idle_s = 0)"
            return None
        t0 = time.monotonic()
        time.sleep(seconds)
        t1 = time.monotonic()
        self.meter.wait_to_close(t1)
        energy = window_energy(self.meter.snapshot(), self.meter.kind, t0, t1)
        if not energy.known:
            self.idle_reason = self.meter.failure() or energy.missing
            return None
        return energy.joules / (t1 - t0)

    def power_of(self, measurement):
        """The Power record of one measured variant, from the host's meter readings."""
        where = {"name": "command", "rail": "meter (on the host)", "where": "host",
                 "boundary": "what the meter measures (typically the board's supply)"}
        if not measurement.ok or measurement.latency_pass is None:
            return Power(measured=False, reason="the variant was not timed", where="host")
        windows = measurement.latency_pass.windows()
        if not windows:
            return Power(measured=False, reason="the agent reported no timed window", where="host")
        self.meter.wait_to_close(self.link.to_host(windows[-1][0][1]) + self.link.half_rtt_s)
        readings = self.meter.snapshot()
        total, missing = over_windows(windows, lambda t0, t1: window_energy(
            readings, self.meter.kind, self.link.to_host(t0), self.link.to_host(t1)))
        if total is None:
            return Power(measured=False, reason=self.meter.failure() or missing, where="host")
        # Each window's two edges are each uncertain by half a round trip.
        mean_w = total.joules / total.seconds if total.seconds else 0.0
        uncertainty_j = mean_w * 2 * self.link.half_rtt_s * total.windows
        record = energy_record(where, total.joules, total.seconds, total.inferences, total.samples, self.idle_w,
                               uncertainty_j)
        record.idle_after_w = self.idle_after_w
        record.trace = round_traces(measurement.latency_pass, lambda t0, t1: power_trace(
            readings, self.meter.kind, self.link.to_host(t0), self.link.to_host(t1)))
        return record

    def stop(self):
        self.meter.stop()


def not_measured(reason):
    return Power(measured=False, reason=reason, where="host")


__all__ = ["ClockLink", "HostMeterRun", "MeterError", "clock_link", "not_measured"]
