"""Running one job on several devices at once, with bounded concurrency.

Each device's outcome is its result or its error; one board failing never stops the
others. The order of outcomes is the order the devices were given.
"""

from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from typing import Any, Optional

from ..shared.errors import EdgeshrinkError

DEFAULT_PARALLEL = 4


@dataclass
class Outcome:
    device: str
    result: Any = None
    error: Optional[EdgeshrinkError] = None

    @property
    def ok(self):
        return self.error is None


def run(devices, job, parallel=DEFAULT_PARALLEL):
    """``job(device)`` for every device, at most ``parallel`` at a time."""
    def one(device):
        try:
            return Outcome(device.name, result=job(device))
        except EdgeshrinkError as exc:
            return Outcome(device.name, error=exc)
        except Exception as exc:  # a bug on one board's path must not hide the others
            error = EdgeshrinkError("device '%s': internal error: %s: %s" % (device.name, type(exc).__name__, exc))
            return Outcome(device.name, error=error)

    if len(devices) == 1:
        return [one(devices[0])]
    with ThreadPoolExecutor(max_workers=max(1, min(parallel, len(devices)))) as pool:
        return list(pool.map(one, devices))


def exit_code(outcomes):
    """The first failing device's exit code, in the order given; 0 when all succeeded."""
    return next((o.error.exit_code for o in outcomes if o.error is not None), 0)
