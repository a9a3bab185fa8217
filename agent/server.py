"""The agent's request loop: hello, then one request at a time until the host leaves.

``HostInput`` reads the host's frames on a thread of its own, so a lost link is
noticed even while a request keeps this loop busy for minutes. Lost means the input
ended with requests unfinished, or a write to the host failed. Then every measuring
child is killed and none starts again, so the run unwinds and frees the board's lock
at once; a request stopped that way is answered with an error, never a result. If
anything still runs ABANDON_AFTER_S later (waiting for the lock, or for upload bytes
that will not come), the agent exits, which releases the lock as well.
"""

import os
import platform
import sys
import threading
import time

from ..shared import protocol
from ..shared.conventions import Op
from ..shared.errors import EdgeshrinkError, ProtocolError, RemoteError, describe_os_error
from . import AGENT_VERSION, children, facts
from .bench import bench
from .profiling import profile
from .sustained import sustained
from .host_input import END, HostInput
from .install import install, status
from .layout import DeviceRoot

ABANDON_AFTER_S = 5.0
EXIT_LINK_LOST = 1


def log(message):
    try:
        sys.stderr.write("agent: %s\n" % message)
        sys.stderr.flush()
    except (OSError, ValueError):
        pass  # stderr travels over the same link, which may be the thing that is gone


class Server:
    def __init__(self, root, instream, outstream):
        self.root = DeviceRoot(root)
        self.outstream = outstream
        self._write_lock = threading.Lock()
        self._output_lost = False
        self._loss_lock = threading.Lock()
        self._lost = threading.Event()
        self.input = HostInput(instream, self.link_lost)
        self.ops = {
            # The monotonic reading lets a host-side power meter map the timed windows
            # onto its own clock (host/host_meter.py).
            Op.PING: lambda rid, args, send: {"pong": True, "monotonic": time.monotonic()},
            Op.FACTS: lambda rid, args, send: facts.collect(self.root.root),
            Op.HAVE_BLOBS: self.have_blobs,
            Op.COMMIT_BLOB: self.commit_blob,
            Op.RECEIVE_BLOB: self.receive_blob,
            Op.BENCH: lambda rid, args, send: bench(self.root, rid, args, send),
            Op.SUSTAINED: lambda rid, args, send: sustained(self.root, rid, args, send),
            Op.PROFILE: lambda rid, args, send: profile(self.root, rid, args, send),
            Op.INSTALL: lambda rid, args, send: install(self.root, rid, args, send),
            Op.STATUS: lambda rid, args, send: status(self.root, rid, args, send),
        }

    def send(self, frame):
        """Write one frame; once the host has stopped reading, frames are dropped."""
        data = protocol.encode(frame)
        with self._write_lock:
            if self._output_lost:
                return
            try:
                self.outstream.write(data)
                self.outstream.flush()
                return
            except (OSError, ValueError) as exc:
                self._output_lost = True
                failure = exc
        self.link_lost("the host stopped reading the agent's output (%s)" % failure)

    def link_lost(self, reason):
        """Stop measuring now; called once per loss, from whichever thread noticed it."""
        with self._loss_lock:
            if self._lost.is_set():
                return
            self._lost.set()
        killed = children.LIVE.stop_all(reason)
        log("%s; killed %d measuring process(es)" % (reason, killed))
        backstop = threading.Timer(ABANDON_AFTER_S, self._abandon)
        backstop.daemon = True
        backstop.start()

    def _abandon(self):
        children.LIVE.stop_all("the agent is exiting")
        log("still busy %.0fs after the link was lost; exiting" % ABANDON_AFTER_S)
        os._exit(EXIT_LINK_LOST)

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
        self.input.start()
        while True:
            item = self.input.next()
            if item is END:
                return EXIT_LINK_LOST if self._lost.is_set() else 0
            if isinstance(item, protocol.FrameError):
                reply, keep_serving = protocol.error(None, ProtocolError.code, str(item)), True
            else:
                reply, keep_serving = self.handle(item)
            # Finished before the reply goes out: a host that reads it and then closes
            # the link has left an idle agent, not an interrupted one.
            self.input.answered()
            self.send(reply)
            if not keep_serving:
                return 0

    def handle(self, frame):
        """Do what one frame asks; returns the reply and whether to keep serving."""
        request_id = frame.get("id")
        if request_id is not None and (not isinstance(request_id, int) or isinstance(request_id, bool)):
            return protocol.error(None, ProtocolError.code, "request id must be an integer, got %s"
                                  % type(request_id).__name__), True
        if frame["type"] != protocol.REQUEST:
            return protocol.error(request_id, ProtocolError.code,
                                  "agent only accepts request frames, got %r" % frame["type"]), True
        op = frame.get("op")
        if not isinstance(op, str):
            return protocol.error(request_id, ProtocolError.code, "op must be a string, got %s"
                                  % type(op).__name__), True
        if op == Op.SHUTDOWN:
            return protocol.result(request_id, {"bye": True}), False
        handler = self.ops.get(op)
        if handler is None:
            return protocol.error(request_id, ProtocolError.code, "unknown op %r; this agent knows: %s"
                                  % (op, ", ".join(sorted(self.ops) + [Op.SHUTDOWN]))), True
        args = frame.get("args") if isinstance(frame.get("args"), dict) else {}
        interruptions = children.LIVE.interruptions
        try:
            data = handler(request_id, args, self.send_event)
        except EdgeshrinkError as exc:
            return protocol.error(request_id, exc.code, exc.message), True
        except OSError as exc:
            # The board's disk or file system refused (full, read-only): a device condition.
            return protocol.error(request_id, RemoteError.code, "'%s' failed on the device: %s"
                                  % (op, describe_os_error(exc))), True
        except (TypeError, KeyError, AttributeError, ValueError) as exc:
            # Arguments of the wrong shape (a string where a list belongs, a missing key):
            # the request is malformed; the agent keeps serving.
            return protocol.error(request_id, ProtocolError.code, "malformed arguments for '%s': %s: %s"
                                  % (op, type(exc).__name__, exc)), True
        except Exception as exc:  # a bug in the agent: report it, keep serving
            log("%s failed: %r" % (op, exc))
            return protocol.error(request_id, "internal", "%s: %s" % (type(exc).__name__, exc)), True
        if children.LIVE.interruptions > interruptions:
            # Passes were cut short: what the handler made of them is not a result.
            return protocol.error(request_id, RemoteError.code, "'%s' stopped: %s"
                                  % (op, children.LIVE.stop_reason)), True
        return protocol.result(request_id, data), True
