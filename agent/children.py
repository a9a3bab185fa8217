"""Starting a measurement child and relaying what it says."""

import json
import os
import subprocess
import sys
import threading

from ..shared import protocol
from ..shared.errors import RemoteError, error_for_code

STDERR_TAIL_BYTES = 4096


def child_command():
    """How to start this same agent again in child mode.

    Shipped as a zipapp, ``sys.argv[0]`` is the .pyz; installed, the package runs with -m.
    """
    argv0 = os.path.abspath(sys.argv[0]) if sys.argv and sys.argv[0] else ""
    if argv0.endswith(".pyz") and os.path.isfile(argv0):
        return [sys.executable, argv0, "--child"]
    return [sys.executable, "-m", "edgeshrink.agent", "--child"]


def _drain(stream, sink):
    # Keep only the tail: a chatty runtime must not fill memory or block the child.
    for chunk in iter(lambda: stream.read(1024), b""):
        sink[0] = (sink[0] + chunk)[-STDERR_TAIL_BYTES:]


def run_child(job, on_event, timeout_s):
    """Run one measurement pass; returns the child's result data or raises its error."""
    process = subprocess.Popen(child_command(), stdin=subprocess.PIPE, stdout=subprocess.PIPE,
                               stderr=subprocess.PIPE)
    stderr_tail = [b""]
    drainer = threading.Thread(target=_drain, args=(process.stderr, stderr_tail), daemon=True)
    drainer.start()
    timer = threading.Timer(timeout_s, process.kill)
    timer.start()
    outcome = None
    try:
        process.stdin.write((json.dumps(job) + "\n").encode("utf-8"))
        process.stdin.close()
        while True:
            frame = protocol.read_frame(process.stdout)
            if frame is None:
                break
            if frame["type"] == protocol.EVENT:
                on_event(frame)
            elif frame["type"] in (protocol.RESULT, protocol.ERROR):
                outcome = frame
        process.wait()
    finally:
        timer.cancel()
        if process.poll() is None:
            process.kill()
            process.wait()
        drainer.join(timeout=5)
    if outcome is not None and outcome["type"] == protocol.RESULT:
        return outcome["data"]
    if outcome is not None:
        raise error_for_code(outcome.get("code"), outcome.get("message", "measurement failed"))
    tail = stderr_tail[0].decode("utf-8", "replace").strip().splitlines()
    detail = tail[-1] if tail else "no output"
    if process.returncode is not None and process.returncode < 0:
        detail = "killed by signal %d (out of memory or over the %ds limit?); %s" % (
            -process.returncode, timeout_s, detail)
    raise RemoteError("measurement process died: %s" % detail)
