"""A conversation with one agent: start it, check its hello, send requests, read replies.

A reader thread turns the agent's stdout into a queue of frames, so every wait has
a timeout and an agent that dies is noticed at once rather than hanging the host.
"""

import queue
import secrets
import threading
from dataclasses import dataclass

from ..shared import protocol
from ..shared.conventions import UPLOAD_SUFFIX, Op
from ..shared.errors import ConnectError, ProtocolError, error_for_code
from . import agent_bundle, silence

HELLO_TIMEOUT_S = 60
# How a dropped link shows when written to: a closed pipe (OSError, ValueError) or, over
# SSH, paramiko's EOFError from a transport that has already gone.
LINK_GONE = (OSError, ValueError, EOFError)
STDERR_GRACE_S = 2.0   # for a dead agent's last words to come through its stderr pipe
_EOF = object()


@dataclass
class Hello:
    protocol: int
    agent_version: str
    python: str
    facts: dict


class AgentSession:
    def __init__(self, connector, bundle=None, hello_timeout_s=HELLO_TIMEOUT_S):
        self.connector = connector
        self.bundle = bundle or agent_bundle.build()
        self.hello_timeout_s = hello_timeout_s
        self.channel = None
        self.hello = None
        self.agent_bytes_sent = 0
        self._frames = queue.Queue()
        self._next_id = 1

    # What callers need of the device, so that none reaches through ``connector``.

    @property
    def device(self):
        """The device's devices.toml entry."""
        return self.connector.device

    @property
    def device_name(self):
        return self.connector.device.name

    @property
    def root(self):
        """The device root as the agent sees it."""
        return self.connector.root

    def describe(self):
        """How the device is reached: 'local subprocess (...)', 'ssh pi@pi4:22 via ...'."""
        return self.connector.describe()

    def upload(self, local_path, relative_path):
        """Copy a file to ``root/relative_path`` on the device; returns the bytes sent."""
        return self.connector.upload(local_path, relative_path)

    def start(self):
        relative = "agent/" + self.bundle.remote_name
        if not self.connector.exists(relative):
            # A temporary name of its own: two hosts starting on a new board at the same
            # moment both send the agent, and must not write into one file.
            self.agent_bytes_sent = self.connector.upload(self.bundle.path, relative,
                                                          "." + secrets.token_hex(4) + UPLOAD_SUFFIX)
        self.channel = self.connector.start_agent(relative)
        threading.Thread(target=self._read_frames, daemon=True).start()
        frame = self._next_frame(self.hello_timeout_s, "the agent's hello")
        if frame.get("type") != protocol.HELLO:
            raise ProtocolError("device '%s': agent spoke %r before hello" % (self.device_name, frame.get("type")))
        if frame.get("protocol") != protocol.PROTOCOL_VERSION:
            raise ProtocolError("device '%s': agent speaks protocol %r, this host speaks %d"
                                % (self.device_name, frame.get("protocol"), protocol.PROTOCOL_VERSION),
                                "the agent is re-sent when its hash changes; remove stale agents under the device root")
        self.hello = Hello(frame["protocol"], frame.get("agent_version", "?"), frame.get("python", "?"),
                           frame.get("facts") or {})
        return self.hello

    def _read_frames(self):
        try:
            while True:
                frame = protocol.read_frame(self.channel.stdout)
                if frame is None:
                    break
                self._frames.put(frame)
        except protocol.FrameError as exc:
            self._frames.put(ProtocolError("device '%s': bad frame from agent: %s" % (self.device_name, exc)))
        except LINK_GONE:
            pass  # the channel closed under us: reported as end of stream
        self._frames.put(_EOF)

    def _next_frame(self, timeout_s, waiting_for):
        try:
            frame = self._frames.get(timeout=timeout_s)
        except queue.Empty:
            raise ConnectError("device '%s': no answer from the agent within %ds while waiting for %s"
                               % (self.device_name, timeout_s, waiting_for))
        if isinstance(frame, Exception):
            raise frame
        if frame is _EOF:
            self._frames.put(_EOF)  # later waits see the end too
            tail = self.channel.stderr_tail(wait_s=STDERR_GRACE_S) if self.channel else ""
            last = tail.splitlines()[-1] if tail else "no message"
            raise ConnectError("device '%s': the agent stopped unexpectedly while the host waited for %s (%s)"
                               % (self.device_name, waiting_for, last))
        return frame

    def call(self, op, args=None, on_event=None, timeout_s=None):
        """Send one request and wait for its result; events go to ``on_event``.

        ``timeout_s`` bounds the silence between two frames, not the whole call (a
        long benchmark that keeps reporting progress is not cut off); by default the
        longest silence the op can legitimately have (host/silence.py).
        """
        limit = timeout_s if timeout_s is not None else silence.limit_for(op, args)
        return self.wait(self.send(op, args), op, on_event, limit)

    def send(self, op, args=None):
        """Send a request without waiting (the reply is collected with ``wait``)."""
        request_id = self._next_id
        self._next_id += 1
        try:
            self.channel.stdin.write(protocol.encode(protocol.request(request_id, op, args)))
            self.channel.stdin.flush()
        except LINK_GONE as exc:
            raise ConnectError("device '%s': lost the connection to the agent: %s"
                               % (self.device_name, exc or type(exc).__name__))
        return request_id

    def wait(self, request_id, op, on_event=None, timeout_s=None):
        timeout_s = timeout_s if timeout_s is not None else silence.limit_for(op)
        while True:
            frame = self._next_frame(timeout_s, "the answer to '%s'" % op)
            if frame.get("id") != request_id:
                if frame.get("type") == protocol.ERROR and frame.get("id") is None:
                    raise ProtocolError("device '%s': %s" % (self.device_name, frame.get("message")))
                continue  # a stale frame from an earlier, abandoned request
            kind = frame.get("type")
            if kind == protocol.EVENT:
                if on_event is not None:
                    on_event(frame.get("kind"), frame.get("data") or {})
            elif kind == protocol.RESULT:
                return frame.get("data") or {}
            elif kind == protocol.ERROR:
                raise error_for_code(frame.get("code"), "device '%s': %s" % (self.device_name, frame.get("message")))

    def close(self):
        if self.channel is None:
            return
        try:
            self.channel.stdin.write(protocol.encode(protocol.request(self._next_id, Op.SHUTDOWN)))
            self.channel.stdin.flush()
        except LINK_GONE:
            pass   # the link is already gone: there is nobody to say goodbye to
        try:
            self.channel.close()
        except LINK_GONE:
            pass
        self.channel = None

    def stop_now(self):
        """Stop the agent without the goodbye: one that never said hello (or spoke out of
        turn) is not listening, and waiting for it to exit only delays the error."""
        if self.channel is None:
            return
        try:
            self.channel.kill()
        except LINK_GONE:
            pass
        self.channel = None

    def __enter__(self):
        self.connector.open()
        try:
            self.start()
        except BaseException:
            self.stop_now()
            self.connector.close()
            raise
        return self

    def __exit__(self, *exc):
        self.close()
        self.connector.close()
