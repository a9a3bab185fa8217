"""The ``profile`` op: where one variant's time goes, operator by operator.

A profiled run is slower than a plain one (the runtime stamps every node), so the child
times the same runs both ways and reports the ratio; the latency figures of a result
never come from a profiled session.
"""

from ..shared.types import MAX_PROFILE_RUNS, accepts
from . import one_variant
from .bench import CHILD_OVERHEAD_S
from .children import run_child
from .op_profile import profile_job

# Two sessions' worth of runs; a model slow enough to pass this is better profiled with fewer runs.
PROFILE_LIMIT_S = 900


def _checked(args):
    runs = args.get("runs")
    problems = [] if accepts(int, runs) and 1 <= runs <= MAX_PROFILE_RUNS else [
        "runs must be from 1 to %d" % MAX_PROFILE_RUNS]
    settings, variant = one_variant.checked(args, "profile", problems)
    return settings, int(runs), variant


def profile(root, request_id, args, send_event):
    settings, runs, variant = _checked(args)
    with one_variant.locked(root, request_id, args, send_event):
        root.ensure()
        job = one_variant.child_job(root, request_id, args, variant, settings, **profile_job(root, runs))
        return run_child(job, lambda frame: send_event(request_id, frame["kind"], frame["data"]),
                         PROFILE_LIMIT_S + CHILD_OVERHEAD_S)
