"""The agent's request loop: hello, then one request at a time until stdin closes."""

import platform
import sys
import threading

from ..shared import protocol
from ..shared.errors import EdgeshrinkError, ProtocolError
from . import AGENT_VERSION, facts
from .bench import bench
from .install import install, status
from .layout import DeviceRoot


class Server:
    def __init__(self, root, instream, outstream):
        self.root = DeviceRoot(root)
        self.instream = instream
        self.outstream = outstream
        self._write_lock = threading.Lock()
        self.ops = {
            "ping": lambda rid, args, send: {"pong": True},
            "facts": lambda rid, args, send: facts.collect(self.root.root),
            "have_blobs": self.have_blobs,
            "commit_blob": self.commit_blob,
            "receive_blob": self.receive_blob,
            "bench": lambda rid, args, send: bench(self.root, rid, args, send),
            "install": lambda rid, args, send: install(self.root, rid, args, send),
            "status": lambda rid, args, send: status(self.root, rid, args, send),
        }

    def send(self, frame):
        data = protocol.encode(frame)
        with self._write_lock:
            self.outstream.write(data)
            self.outstream.flush()

    def send_event(self, request_id, kind, data):
        self.send(protocol.event(request_id, kind, data))

    def have_blobs(self, request_id, args, send):
        return {"missing": self.root.missing_blobs(list(args.get("sha256") or []))}

    def receive_blob(self, request_id, args, send):
        return self.root.receive_blob(args.get("sha256"), args.get("incoming"), int(args.get("size", -1)),
                                      float(args.get("stall_timeout_s", 60.0)))

    def commit_blob(self, request_id, args, send):
        return self.root.commit_blob(args.get("sha256"), args.get("incoming"))

    def serve(self):
        self.root.ensure()
        self.send(protocol.hello(AGENT_VERSION, platform.python_version(),
                                 facts.collect(self.root.root)))
        while True:
            try:
                frame = protocol.read_frame(self.instream)
            except protocol.FrameError as exc:
                self.send(protocol.error(None, ProtocolError.code, str(exc)))
                continue
            if frame is None:
                return 0
            if not self.handle(frame):
                return 0

    def handle(self, frame):
        """Answer one frame; False when the host asked us to stop."""
        request_id = frame.get("id")
        if frame["type"] != protocol.REQUEST:
            self.send(protocol.error(request_id, ProtocolError.code,
                                     "agent only accepts request frames, got %r" % frame["type"]))
            return True
        op = frame.get("op")
        if op == "shutdown":
            self.send(protocol.result(request_id, {"bye": True}))
            return False
        handler = self.ops.get(op)
        if handler is None:
            self.send(protocol.error(request_id, ProtocolError.code,
                                     "unknown op %r; this agent knows: %s"
                                     % (op, ", ".join(sorted(self.ops) + ["shutdown"]))))
            return True
        args = frame.get("args") if isinstance(frame.get("args"), dict) else {}
        try:
            data = handler(request_id, args, self.send_event)
        except EdgeshrinkError as exc:
            self.send(protocol.error(request_id, exc.code, exc.message))
        except Exception as exc:  # a bug in the agent: report it, keep serving
            sys.stderr.write("agent: %s failed: %r\n" % (op, exc))
            self.send(protocol.error(request_id, "internal", "%s: %s" % (type(exc).__name__, exc)))
        else:
            self.send(protocol.result(request_id, data))
        return True
