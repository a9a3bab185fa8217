"""Jobs for exercising the compression executors (host/compress/executors.py) with real
failures: a job that raises, and one that kills the process it runs in. They live in
the package so that a pool's or a Ray cluster's workers can import them by name."""

import os


def square_or_fail(context, job, log):
    """``context["offset"] + job**2``; job "raise" raises, job "die" kills its worker."""
    if job == "raise":
        raise RuntimeError("this job was asked to fail")
    if job == "die":
        log("about to die")
        os._exit(3)
    log("squared %s" % job)
    return context["offset"] + job * job
