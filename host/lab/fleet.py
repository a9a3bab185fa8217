"""Many simulated boards at once (host/lab/board.py), with the devices.toml that reaches
them all under one tag: what `deploy --tag` over a lab is tried and measured on.

Boards are started a few at a time (each generates keys and starts an sshd) and all
stopped on the way out, whatever happened.
"""

import sys
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

from .board import SimulatedBoard

STARTING_AT_ONCE = 8


class BoardFleet:
    def __init__(self, count, workdir, first_index=0, cpus=0.1, memory_mb=384, rate_mbit=100, tag="lab",
                 python=None):
        if first_index + count > 250:
            raise ValueError("at most 250 simulated boards (indexes 0..249)")
        self.workdir = Path(workdir)
        self.tag = tag
        self.python = python or sys.executable
        self.boards = [SimulatedBoard(first_index + i, self.workdir / ("board%d" % i), cpus=cpus,
                                      memory_mb=memory_mb, rate_mbit=rate_mbit) for i in range(count)]

    def names(self):
        return ["%s%03d" % (self.tag, i) for i in range(len(self.boards))]

    def start(self):
        try:
            with ThreadPoolExecutor(STARTING_AT_ONCE) as pool:
                list(pool.map(lambda board: board.start(), self.boards))
        except BaseException:
            self.stop()
            raise
        return self

    def devices_toml(self, **extra):
        extra.setdefault("retries", 1)
        return "".join(board.credentials().device_toml(name, python=self.python, tags=[self.tag],
                                                       root=str(self.workdir / ("root-" + name)), **extra)
                       for name, board in zip(self.names(), self.boards))

    def stop(self):
        with ThreadPoolExecutor(STARTING_AT_ONCE) as pool:
            list(pool.map(lambda board: board.stop(), self.boards))

    def __enter__(self):
        return self.start()

    def __exit__(self, *exc):
        self.stop()
