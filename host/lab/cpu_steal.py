"""A calibrated slowdown for a board: on every core, a real-time thread that takes a fixed
share of each millisecond.

A lower cgroup CPU quota is how a lab board is made slower, but it slows a process in
whole periods: a 1 ms inference either runs at full speed or waits out the rest of a
100 ms period, so "5% less CPU" is not "5% slower" for any one inference. A SCHED_FIFO
thread pinned to a core that wakes every ``period_s`` and spins for ``share`` of it
preempts whatever runs there at once (real-time beats every normal task), so a program
that uses the core continuously runs ``1 / (1 - share)`` times longer, evenly, whichever
core the scheduler puts it on. Wake-ups follow an absolute schedule, so a late one does
not shorten the next period. Benchmarks still measure the slowdown it actually caused
side by side: the machine decides that, not the arithmetic.

Needs root (SCHED_FIFO). The kernel's real-time throttle (sched_rt_runtime_us, 95% by
default) bounds the share anyway.
"""

import os
import subprocess
import sys
import time

DEFAULT_PERIOD_S = 0.001


def share_for_slowdown(slowdown):
    """The share of each period to take so a CPU-bound program runs ``1 + slowdown`` times longer."""
    if slowdown < 0:
        raise ValueError("a slowdown is not negative")
    return 1.0 - 1.0 / (1.0 + slowdown)


def why_unavailable():
    """None when real-time threads can be started here, else the reason."""
    if not hasattr(os, "sched_setscheduler"):
        return "this platform has no sched_setscheduler"
    if os.geteuid() != 0:
        return "a real-time (SCHED_FIFO) thread needs root"
    return None


def steal(core, share, period_s=DEFAULT_PERIOD_S, duration_s=None):
    """Run in this process until killed (or ``duration_s``): pinned to ``core``, real-time,
    busy for ``share`` of every ``period_s``."""
    os.sched_setaffinity(0, {core})
    os.sched_setscheduler(0, os.SCHED_FIFO, os.sched_param(1))
    # Spin until this process's own CPU time (wake-up costs included) reaches ``share``
    # of the time elapsed: what it takes is then the share asked for, not more.
    started, cpu_started = time.perf_counter(), time.process_time()
    tick = 0
    while duration_s is None or time.perf_counter() - started < duration_s:
        tick += 1
        wake = started + tick * period_s
        delay = wake - time.perf_counter()
        if delay > 0:
            time.sleep(delay)
        owed = share * (time.perf_counter() - started)
        while time.process_time() - cpu_started < owed:
            pass

class CpuStealer:
    """``with CpuStealer(0.0909):`` every core loses 9.09% of each millisecond to a
    real-time thread, so CPU-bound work runs about 10% longer."""

    def __init__(self, share, cores=None, period_s=DEFAULT_PERIOD_S):
        if not 0.0 <= share < 0.9:
            raise ValueError("share must be in [0, 0.9)")
        self.share, self.period_s = share, period_s
        self.cores = sorted(cores if cores is not None else os.sched_getaffinity(0))
        self._children = []

    def start(self):
        if self.share == 0.0:
            return self
        for core in self.cores:
            self._children.append(subprocess.Popen(
                [sys.executable, "-c", "import sys; from edgeshrink.host.lab.cpu_steal import steal; "
                 "steal(int(sys.argv[1]), float(sys.argv[2]), float(sys.argv[3]))",
                 str(core), repr(self.share), repr(self.period_s)],
                stdin=subprocess.DEVNULL))
        time.sleep(0.2)  # let each child become real-time before the caller measures
        for child in self._children:
            if child.poll() is not None:
                self.stop()
                raise RuntimeError("the real-time thread for a core exited at once (code %s)" % child.returncode)
        return self

    def stop(self):
        for child in self._children:
            child.kill()
            child.wait()
        self._children = []

    def __enter__(self):
        return self.start()

    def __exit__(self, *exc):
        self.stop()
