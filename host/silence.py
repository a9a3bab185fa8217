"""How long the host waits for the next frame from an agent, per request.

A frozen agent (stopped, not dead) sends nothing and never closes the link; only a
silence limit ends the wait. Each op gets the longest silence it can legitimately
have, from what the agent itself bounds: a quick op a minute, an upload the agent's
stall limit, a benchmark its lock wait plus one measuring child's limit, an install its
lock wait plus the health check's limit. The agent's own limits are in agent/bench.py
(CHILD_OVERHEAD_S) and agent/install.py (CHECK_TIMEOUT_S); the host does not import
the agent, so the margins below restate them.
"""

from ..shared.conventions import Op

QUICK_S = 60.0                  # ping, facts, have_blobs, status, shutdown
UPLOAD_S = 120.0                # the agent gives up on a stalled upload after 60 s
CHILD_LIMIT_MARGIN_S = 300.0    # agent/bench.py CHILD_OVERHEAD_S
PROFILE_LIMIT_S = 900.0         # agent/profiling.py PROFILE_LIMIT_S
CHECK_LIMIT_S = 300.0           # agent/install.py CHECK_TIMEOUT_S
DEFAULT_LOCK_WAIT_S = 600.0
SLACK_S = 60.0


def limit_for(op, args=None):
    """Seconds of silence after which the host stops waiting for ``op``."""
    args = args if isinstance(args, dict) else {}
    lock_wait = float(args.get("lock_timeout_s", DEFAULT_LOCK_WAIT_S))
    if op == Op.BENCH:
        # Silent while waiting for the lock, then a pass reports at least when it starts
        # and ends; one child never runs past max_time_s + the agent's overhead.
        max_time = float((args.get("settings") or {}).get("max_time_s", 10.0))
        return lock_wait + max_time + CHILD_LIMIT_MARGIN_S + SLACK_S
    if op == Op.SUSTAINED:
        # The child reports every bucket; loading and warm-up are the silent part.
        return lock_wait + CHILD_LIMIT_MARGIN_S + SLACK_S
    if op == Op.PROFILE:
        # Silent while the child times its runs twice (unprofiled, profiled).
        return lock_wait + PROFILE_LIMIT_S + CHILD_LIMIT_MARGIN_S + SLACK_S
    if op == Op.INSTALL:
        return lock_wait + CHECK_LIMIT_S + SLACK_S
    if op in (Op.RECEIVE_BLOB, Op.COMMIT_BLOB):
        return UPLOAD_S
    return QUICK_S
