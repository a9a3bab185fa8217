"""The edgeshrink wire protocol, version 1: JSON lines between host and agent.

Transport
    The agent reads frames from its stdin and writes frames to its stdout; stderr
    carries human-readable logs only. It never opens a port. Over SSH the same
    streams are the channel's stdin/stdout.

Frames
    One frame is one UTF-8 JSON object on one line, terminated by ``\\n``. A frame is
    at most ``FRAME_CAP`` bytes including the newline; a longer one is a protocol
    error on the receiving side (the sender must split large payloads, and model
    bytes never travel inside JSON: they are files pushed by the connector).
    Every frame has a ``type``. Fields a receiver does not know are ignored, so a
    newer peer may add fields without breaking an older one.

Handshake
    The agent speaks first, exactly once::

        {"type": "hello", "protocol": 1, "agent_version": "0.1.0",
         "python": "3.8.18", "facts": {...}}

    The host closes the session with a ProtocolError when ``protocol`` differs from
    its own ``PROTOCOL_VERSION``.

Requests (host -> agent)
    ``{"type": "request", "id": 7, "op": "bench", "args": {...}}``. ``id`` is an
    integer chosen by the host, unique within the session. Ops (``conventions.Op``):
    ``ping``, ``facts``, ``have_blobs``, ``receive_blob`` (sent before the bytes are
    uploaded; the agent hashes them as they arrive), ``commit_blob`` (verify an
    already uploaded file), ``bench``, ``install``, ``status``, ``shutdown``.

Replies (agent -> host), each carrying the request's ``id``
    - zero or more ``{"type": "event", "id": 7, "kind": "progress", "data": {...}}``
      (kinds: ``progress``, ``measurement``, ``log``);
    - then exactly one of ``{"type": "result", "id": 7, "data": {...}}`` or
      ``{"type": "error", "id": 7, "code": "model", "message": "..."}``.
    ``code`` is one of the wire codes in ``errors.py``. An unknown op or malformed
    request is an ``error`` reply with code ``protocol``, never a crash; a frame
    that cannot be parsed at all gets an error reply with ``id`` null.

Measurements
    ``bench`` sends each variant's measurement as one ``measurement`` event whose data
    is a ``measurement.VariantMeasurement`` (with its ``schema`` version); its result
    only lists the variants measured, so no frame ever carries more than one
    variant's raw samples. ``max_runs`` is capped (``types.MAX_RUNS_LIMIT``) and
    samples are rounded (``measurement.SAMPLE_DECIMALS``) so that one always fits.

End of input
    The agent reads its input on a thread of its own, so it notices at once when the
    host goes away, even in the middle of a silent measurement pass. Input that ends
    (or a write that fails) while a request is unfinished stops it: measuring child
    processes are killed, the device lock is released, the request is answered with
    a ``remote`` error if anyone still listens, and the agent exits. Input that ends
    while idle ends the agent normally.
"""

import json

PROTOCOL_VERSION = 1
FRAME_CAP = 4 * 1024 * 1024

HELLO = "hello"
REQUEST = "request"
EVENT = "event"
RESULT = "result"
ERROR = "error"
FRAME_TYPES = (HELLO, REQUEST, EVENT, RESULT, ERROR)


class FrameError(ValueError):
    """A frame that breaks the rules above (the caller maps it to ProtocolError)."""


def encode(frame):
    """One frame as bytes, newline included; refuses frames over the cap."""
    if frame.get("type") not in FRAME_TYPES:
        raise FrameError("unknown frame type %r" % (frame.get("type"),))
    data = (json.dumps(frame, separators=(",", ":"), allow_nan=False) + "\n").encode("utf-8")
    if len(data) > FRAME_CAP:
        raise FrameError("frame of %d bytes exceeds the %d-byte cap" % (len(data), FRAME_CAP))
    return data


def decode(line):
    """Parse one received line (bytes or str) into a frame dict."""
    if isinstance(line, bytes):
        if len(line) > FRAME_CAP:
            raise FrameError("frame of %d bytes exceeds the %d-byte cap" % (len(line), FRAME_CAP))
        try:
            line = line.decode("utf-8")
        except UnicodeDecodeError:
            raise FrameError("frame is not UTF-8")
    try:
        frame = json.loads(line)
    except RecursionError:
        raise FrameError("frame is nested too deeply")
    except ValueError as exc:
        raise FrameError("frame is not JSON: %s" % exc)
    if not isinstance(frame, dict) or frame.get("type") not in FRAME_TYPES:
        raise FrameError("frame has no known type")
    return frame


def read_frame(stream):
    """Read one frame from a binary stream; None at end of stream.

    Reads at most FRAME_CAP + 1 bytes so a peer cannot make us buffer without bound.
    """
    line = stream.readline(FRAME_CAP + 1)
    if not line:
        return None
    if len(line) > FRAME_CAP or not line.endswith(b"\n"):
        if len(line) > FRAME_CAP:
            _discard_rest_of_line(stream)
            raise FrameError("frame exceeds the %d-byte cap" % FRAME_CAP)
        raise FrameError("stream ended inside a frame")
    return decode(line)


def _discard_rest_of_line(stream):
    """Skip what is left of an oversize frame, so none of it is read as a new one."""
    while True:
        chunk = stream.readline(1 << 16)
        if not chunk or chunk.endswith(b"\n"):
            return


def hello(agent_version, python, facts):
    return {"type": HELLO, "protocol": PROTOCOL_VERSION, "agent_version": agent_version,
            "python": python, "facts": facts}


def request(request_id, op, args=None):
    return {"type": REQUEST, "id": request_id, "op": op, "args": args or {}}


def event(request_id, kind, data):
    return {"type": EVENT, "id": request_id, "kind": kind, "data": data}


def result(request_id, data):
    return {"type": RESULT, "id": request_id, "data": data}


def error(request_id, code, message):
    return {"type": ERROR, "id": request_id, "code": code, "message": message}
