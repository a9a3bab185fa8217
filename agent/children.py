"""Starting a measurement child, relaying what it says, and stopping them all at once.

Every measuring child is registered while it lives, so that when the host's link
is lost (agent/server.py's watchdog) one call kills them all and refuses new ones:
a board must not keep measuring, and holding its lock, for a host that is gone.
"""

import json
import os
import subprocess
import sys
import threading

from ..shared import protocol
from ..shared.errors import RemoteError, error_for_code

STDERR_TAIL_BYTES = 4096


class MeasuringStopped(RemoteError):
    """A pass ended because the agent stopped measuring (the host's link was lost).

    A RemoteError, so a variant cut short is a failed variant and an interrupted
    install rolls back, through the same paths as any other failed pass.
    """


class LiveChildren:
    """The measuring processes alive right now; ``stop_all`` kills them and refuses more."""

    def __init__(self):
        self._lock = threading.Lock()
        self._processes = set()
        self._stopped_because = None
        self.interruptions = 0   # children killed or refused since the agent started

    @property
    def stopped(self):
        return self._stopped_because is not None

    @property
    def stop_reason(self):
        return self._stopped_because

    def start(self, command):
        # Started under the lock: a child is either registered before stop_all looks,
        # or refused after it, never missed in between.
        with self._lock:
            if self._stopped_because is not None:
                self.interruptions += 1
                raise MeasuringStopped("measurement not started: %s" % self._stopped_because)
            process = subprocess.Popen(command, stdin=subprocess.PIPE, stdout=subprocess.PIPE,
                                       stderr=subprocess.PIPE)
            self._processes.add(process)
            return process

    def finished(self, process):
        with self._lock:
            self._processes.discard(process)

    def stop_all(self, reason):
        """Refuse new children and kill every live one; returns once they are reaped."""
        with self._lock:
            if self._stopped_because is None:
                self._stopped_because = reason
            doomed = list(self._processes)
            self.interruptions += len(doomed)
        for process in doomed:
            if process.poll() is None:
                process.kill()
        for process in doomed:
            process.wait()  # reaped here or by run_child, whichever comes first
        return len(doomed)


LIVE = LiveChildren()


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
    process = LIVE.start(child_command())
    stderr_tail = [b""]
    drainer = threading.Thread(target=_drain, args=(process.stderr, stderr_tail), daemon=True)
    drainer.start()
    timer = threading.Timer(timeout_s, process.kill)
    timer.start()
    outcome = None
    try:
        try:
            process.stdin.write((json.dumps(job) + "\n").encode("utf-8"))
            process.stdin.close()
        except BrokenPipeError:
            pass  # it died before reading its job (killed, or failed to start): told below
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
        LIVE.finished(process)
    if outcome is None and LIVE.stopped:
        raise MeasuringStopped("measurement stopped: %s" % LIVE.stop_reason)
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
