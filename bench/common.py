"""Shared set-up for the benchmarks: an isolated host home, the demo, its variants,
and the report each benchmark prints and saves under bench/results/."""

import math
import os
import platform
import random
import statistics
import sys
import tempfile
import time
from pathlib import Path

REPO = Path(__file__).resolve().parent.parent
RESULTS = REPO / "bench" / "results"


class Report:
    """What a benchmark prints, also written to bench/results/<name>.txt when it ends.

    README figures are quoted from these files (tests/test_readme_figures.py checks
    that each one appears there), so a number in the README is always one a
    benchmark printed.
    """

    def __init__(self, name):
        self.name = name
        self.lines = []

    def print(self, line=""):
        print(line)
        self.lines.append(line)

    def save(self):
        RESULTS.mkdir(parents=True, exist_ok=True)
        header = ["# %s: %s" % (self.name, " ".join([Path(sys.argv[0]).name] + sys.argv[1:])),
                  "# %s on %s (%s, %d CPUs), Python %s" % (time.strftime("%Y-%m-%d %H:%M"), platform.node(),
                                                          platform.machine(), os.cpu_count() or 0,
                                                          platform.python_version())]
        path = RESULTS / ("%s.txt" % self.name)
        path.write_text("\n".join(header + self.lines) + "\n")
        print("saved %s" % path.relative_to(REPO), file=sys.stderr)


def isolated_home(keep_cache=True):
    """Fresh results store and device roots; the normal host cache unless told otherwise."""
    scratch = Path(tempfile.mkdtemp(prefix="edgeshrink-bench-"))
    os.environ["EDGESHRINK_DB"] = str(scratch / "results.sqlite")
    os.environ["EDGESHRINK_LOCAL_ROOT"] = str(scratch / "devices")
    if not keep_cache:
        os.environ["EDGESHRINK_CACHE"] = str(scratch / "cache")
    return scratch


def demo_variants():
    from edgeshrink.host import deploy
    from edgeshrink.host.compress import variants

    source = deploy.resolve_model(None, log=lambda m: print(m, file=sys.stderr))
    return source, deploy.compress(source, variants.default_specs())


def local_device(name="bench", threads=1, python=None):
    from edgeshrink.host.inventory import Device

    return Device(name=name, threads=threads, python=python)


def median(values):
    return statistics.median(values)


def row(*cells, widths=None):
    widths = widths or [18] + [12] * (len(cells) - 1)
    return "  ".join(str(c).ljust(w) if i == 0 else str(c).rjust(w) for i, (c, w) in enumerate(zip(cells, widths)))


def geomean(values):
    return math.exp(sum(math.log(v) for v in values) / len(values))


def bootstrap_ci(values, stat=geomean, resamples=4000, seed=1):
    """95% percentile-bootstrap interval of stat(values); seeded, so a rerun on the same
    data prints the same interval."""
    if len(values) < 2:
        return (values[0], values[0]) if values else (None, None)
    rng = random.Random(seed)
    draws = sorted(stat([rng.choice(values) for _ in values]) for _ in range(resamples))
    return draws[int(0.025 * resamples)], draws[int(0.975 * resamples) - 1]
