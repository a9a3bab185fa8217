"""The agent's input from the host, read ahead by a thread that watches for its end.

The request loop reads nothing while it serves a request, and a benchmark pass can
be silent for minutes, so a dropped link would go unnoticed until the agent next
wrote. A reader thread that always reads notices at once: end of input (or a read
error) while requests are unfinished means the host can no longer steer the work
it asked for, and ``on_lost`` is called right away, from this thread. End of input
with nothing unfinished is how a session normally ends.
"""

import io
import os
import queue
import threading

from ..shared import protocol
from ..shared.conventions import Op

END = object()  # what ``next`` returns once every frame before the end was handed out


def _own_reader(stream):
    # CPython aborts at exit ("could not acquire lock for <stdin>") when a daemon thread
    # is blocked reading sys.stdin, which happens whenever the agent leaves on a
    # shutdown request. Reading the same pipe through a file object of our own avoids it.
    try:
        fd = stream.fileno()
    except (AttributeError, OSError, ValueError):  # an in-memory stream has no descriptor
        return stream
    return io.open(os.dup(fd), "rb")


def _is_shutdown(item):
    return isinstance(item, dict) and item.get("type") == protocol.REQUEST and item.get("op") == Op.SHUTDOWN


class HostInput:
    def __init__(self, stream, on_lost):
        self._stream = _own_reader(stream)
        self._on_lost = on_lost
        self._frames = queue.Queue()
        self._lock = threading.Lock()
        self._unfinished = 0

    def start(self):
        threading.Thread(target=self._read, name="host-input", daemon=True).start()

    def next(self):
        """The next frame to answer, a FrameError for one that could not be parsed, or END."""
        return self._frames.get()

    def answered(self):
        """The frame last handed out by ``next`` has been dealt with."""
        with self._lock:
            self._unfinished -= 1

    def _read(self):
        while True:
            try:
                item = protocol.read_frame(self._stream)
            except protocol.FrameError as exc:
                item = exc  # answered with an error reply, like any frame
            except (OSError, ValueError):
                item = None  # a read error ends the link like end of input does
            if item is None:
                break
            with self._lock:
                self._unfinished += 1
            self._frames.put(item)
            if _is_shutdown(item):
                break  # nothing after a shutdown is read: input closing next is the normal end
        with self._lock:
            unfinished = self._unfinished
        if unfinished and not _is_shutdown(item):
            self._on_lost("the host's link closed with %d request(s) unfinished" % unfinished)
        self._frames.put(END)
