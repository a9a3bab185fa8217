"""Where independent compression jobs run: here, a local process pool, or a Ray cluster.

Each variant is one job. What every job needs and none changes (the source model, the
data, the PyTorch model, the reference outputs) is the *context*, sent once per
worker (a pool's initializer) or once per cluster (``ray.put``), not once per job.
A job that raises, or whose worker dies, becomes that job's error; the other jobs
go on. Outcomes come back in the order the jobs were given, whichever finished first.
"""

import multiprocessing
import os
from concurrent.futures import ProcessPoolExecutor, as_completed
from concurrent.futures.process import BrokenProcessPool
from dataclasses import dataclass, field
from typing import Any, List, Optional

from ...shared.errors import UsageError

EXECUTORS = ("process", "ray")
RAY_INSTALL_HINT = "install the Ray executor: pip install 'edgeshrink[ray]'"


@dataclass(frozen=True)
class ExecutorChoice:
    kind: str = "process"        # process: this host (1 job: in this process); ray: a Ray cluster
    jobs: int = 1                # workers at once (for ray: the CPUs a local cluster gets)
    address: Optional[str] = None   # ray: a cluster's address; None starts a local one

    def check(self):
        if self.kind not in EXECUTORS:
            raise UsageError("--executor %s: not one of %s" % (self.kind, ", ".join(EXECUTORS)))
        if self.jobs < 1:
            raise UsageError("--jobs %d: give 1 or more" % self.jobs)
        if self.address and self.kind != "ray":
            raise UsageError("--ray-address is for --executor ray")

    @property
    def in_process(self):
        return self.kind == "process" and self.jobs == 1


@dataclass
class JobOutcome:
    value: Any = None
    error: Optional[str] = None          # why the job failed: its variant's reason
    log_lines: List[str] = field(default_factory=list)


def guarded(worker, context, job, log):
    """Run one job; any exception becomes its outcome's error, never the caller's."""
    lines = []

    def keep(message):
        lines.append(message)
        if log is not None:
            log(message)

    try:
        return JobOutcome(worker(context, job, keep), None, lines if log is None else [])
    except Exception as exc:   # a job's failure is its variant's result, whatever it was
        message = getattr(exc, "message", None) or "%s: %s" % (type(exc).__name__, exc)
        return JobOutcome(None, message, lines if log is None else [])


def run(worker, context, jobs, choice, log, on_done=None):
    """``worker(context, job, log)`` for every job: [JobOutcome] in the order of ``jobs``.

    ``worker`` must be importable by name (a module-level function) for a pool or Ray.
    ``on_done(index, outcome)`` is called as each finishes, in the order they finish.
    """
    on_done = on_done or (lambda index, outcome: None)
    if not jobs:
        return []
    if choice.in_process:
        outcomes = []
        for index, job in enumerate(jobs):
            outcomes.append(guarded(worker, context, job, log))
            on_done(index, outcomes[-1])
        return outcomes
    if choice.kind == "ray":
        return _on_ray(worker, context, jobs, choice, on_done)
    return _in_pool(worker, context, jobs, choice, on_done)


# --- a local process pool ---------------------------------------------------------

_worker_context = None


def _start_worker(context, threads):
    global _worker_context
    _worker_context = context
    # N workers share the cores: each gets its slice, or they would all spin on all of them.
    os.environ["OMP_NUM_THREADS"] = str(threads)
    try:
        import torch

        torch.set_num_threads(threads)
    except ImportError:
        pass


def _pool_job(worker, job):
    return guarded(worker, _worker_context, job, None)


def _in_pool(worker, context, jobs, choice, on_done):
    outcomes = [None] * len(jobs)
    broken = _pool_pass(worker, context, jobs, range(len(jobs)), choice.jobs, outcomes, on_done)
    # A worker that died took the pool, and every job still in it, down with it. Each of
    # those runs again alone, so only the job that kills its worker fails for it.
    for index in broken:
        _pool_pass(worker, context, jobs, [index], 1, outcomes, on_done, last_try=True)
    return outcomes


def _pool_pass(worker, context, jobs, indexes, workers, outcomes, on_done, last_try=False):
    """Run ``indexes`` in one pool; returns those lost to a dead worker (unless ``last_try``)."""
    threads = max(1, (os.cpu_count() or 1) // workers)
    lost = []
    # spawn, not fork: forking a process whose torch has started its threads can hang the child.
    pool = ProcessPoolExecutor(max_workers=min(workers, len(indexes)), initializer=_start_worker,
                               initargs=(context, threads), mp_context=multiprocessing.get_context("spawn"))
    try:
        futures = {pool.submit(_pool_job, worker, jobs[index]): index for index in indexes}
        for future in as_completed(futures):
            index = futures[future]
            try:
                outcomes[index] = future.result()
            except BrokenProcessPool as exc:
                if not last_try:
                    lost.append(index)
                    continue
                outcomes[index] = JobOutcome(None, "its worker process died (%s)" % (exc or "killed"))
            except Exception as exc:   # the job or its result would not pickle
                outcomes[index] = JobOutcome(None, "it could not be sent to a worker: %s: %s"
                                             % (type(exc).__name__, exc))
            on_done(index, outcomes[index])
    except BaseException:
        # Ctrl-C: drop the queued jobs instead of waiting for every one of them to finish.
        pool.shutdown(wait=False, cancel_futures=True)
        raise
    pool.shutdown(wait=True)
    return sorted(lost)


# --- Ray -------------------------------------------------------------------------

def _ray_job(worker, context, job):
    return guarded(worker, context, job, None)


def _on_ray(worker, context, jobs, choice, on_done):
    try:
        import ray
    except ImportError:
        raise UsageError("--executor ray needs Ray, which is not installed", RAY_INSTALL_HINT) from None
    started_here = not ray.is_initialized()
    if started_here:
        settings = dict(address=choice.address, include_dashboard=False, log_to_driver=False,
                        logging_level="ERROR", configure_logging=False)
        if not choice.address:
            settings["num_cpus"] = choice.jobs   # a local cluster: as many jobs at once as asked
        try:
            ray.init(**settings)
        except (ConnectionError, RuntimeError, ValueError) as exc:
            raise UsageError("--executor ray: could not %s: %s" % (
                "reach the Ray cluster at %s" % choice.address if choice.address else "start a local Ray",
                " ".join(str(exc).split())[:300]), "check --ray-address (host:port of the head node)") from None
    try:
        remote = ray.remote(num_cpus=1, max_retries=0)(_ray_job)
        shared = ray.put(context)
        pending = {remote.remote(worker, shared, job): index for index, job in enumerate(jobs)}
        outcomes = [None] * len(jobs)
        while pending:
            done, _ = ray.wait(list(pending), num_returns=1)
            index = pending.pop(done[0])
            try:
                outcomes[index] = ray.get(done[0])
            except ray.exceptions.RayError as exc:   # the task's worker died, or Ray could not run it
                outcomes[index] = JobOutcome(None, "its Ray task failed: %s" % " ".join(str(exc).split())[:500])
            on_done(index, outcomes[index])
        return outcomes
    finally:
        if started_here:
            ray.shutdown()
