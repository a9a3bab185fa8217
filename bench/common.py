"""Shared set-up for the benchmarks: an isolated host home, the demo, its variants."""

import os
import statistics
import sys
import tempfile
from pathlib import Path

REPO = Path(__file__).resolve().parent.parent


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
