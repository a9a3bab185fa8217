"""The real agent survives any frame (issue 9, item 9): malformed frames and arguments
of every shape get a `protocol` error, never `internal`, and the agent keeps serving;
after an oversize frame, nothing of that line runs as a request."""

import json
import subprocess
import sys

import pytest
from hypothesis import HealthCheck, given, settings, strategies as st

from edgeshrink.host import agent_bundle
from edgeshrink.shared import protocol


class RawAgent:
    """The agent zipapp on pipes, spoken to in raw bytes."""

    def __init__(self, tmp_path):
        bundle = agent_bundle.build(tmp_path / "agent")
        self.process = subprocess.Popen([sys.executable, str(bundle.path), "--root", str(tmp_path / "root")],
                                        stdin=subprocess.PIPE, stdout=subprocess.PIPE, stderr=subprocess.DEVNULL)
        assert protocol.read_frame(self.process.stdout)["type"] == "hello"

    def send(self, raw):
        self.process.stdin.write(raw if raw.endswith(b"\n") else raw + b"\n")
        self.process.stdin.flush()
        return protocol.read_frame(self.process.stdout)

    def ping(self, request_id=99):
        reply = self.send(protocol.encode(protocol.request(request_id, "ping")))
        return reply["type"] == "result" and reply["id"] == request_id

    def close(self):
        self.process.stdin.close()
        self.process.wait(timeout=10)


@pytest.fixture(scope="module")
def agent(tmp_path_factory):
    raw = RawAgent(tmp_path_factory.mktemp("frames"))
    yield raw
    raw.close()


def request(**fields):
    frame = {"type": "request", "id": 1, "op": "ping", "args": {}}
    frame.update(fields)
    return json.dumps(frame).encode()


@pytest.mark.parametrize("raw, words", [
    (request(op=["ping"]), "op must be a string"),
    (request(op=None), "op must be a string"),
    (request(id="1"), "request id must be an integer"),
    (b'{"type":"request","id":NaN,"op":"ping"}', "request id must be an integer"),
    (request(id=1.5), "request id must be an integer"),
    (b"[" * 100000 + b"]" * 100000, "nested too deeply"),
    (b"\xff\xfe not utf-8", "not UTF-8"),
    (b"not json", "not JSON"),
    (request(op="bench", args={"variants": "x"}), "malformed arguments for 'bench'"),
    (request(op="bench", args={"variants": [7]}), "malformed arguments for 'bench'"),
    (request(op="have_blobs", args={"sha256": 5}), ""),
    (request(op="install", args={"name": ["a"]}), ""),
    (request(op="receive_blob", args={"sha256": {}, "incoming": 3, "size": "big"}), ""),
    (request(op="commit_blob", args={"sha256": None}), ""),
    (request(op="profile", args={"runs": 0, "variant": {"name": "a", "blob": "0" * 64}}), "runs must be from 1"),
    (request(op="profile", args={"runs": 10, "variant": "a"}), "variant must be {name, blob}"),
    (request(op="profile", args={"runs": 10, "variant": {"name": "../x", "blob": "0" * 64}}), "not a valid name"),
])
def test_malformed_frames_get_a_protocol_error_and_the_agent_keeps_serving(agent, raw, words):
    reply = agent.send(raw)
    assert reply["type"] == "error" and reply["code"] == "protocol", reply
    assert words in reply["message"]
    assert agent.ping()


def test_after_an_oversize_frame_nothing_of_that_line_runs(agent):
    # The tail of the oversize line is itself a valid shutdown request: it must not run.
    line = b'{"type":"request","id":5,"op":"ping","pad":"' + b"x" * protocol.FRAME_CAP + b'"}'
    line += b'{"type":"request","id":6,"op":"shutdown"}'

    reply = agent.send(line)
    assert reply["type"] == "error" and "exceeds" in reply["message"]
    assert agent.ping(7)          # still serving: the shutdown in that line never ran


_json = st.recursive(st.one_of(st.none(), st.booleans(), st.integers(), st.floats(allow_nan=False),
                               st.text(max_size=5)),
                     lambda children: st.lists(children, max_size=3) | st.dictionaries(st.text(max_size=5), children,
                                                                                     max_size=3), max_leaves=8)


@settings(max_examples=120, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(op=st.sampled_from(["ping", "facts", "have_blobs", "receive_blob", "commit_blob", "bench", "install",
                           "status", "profile", "nosuch"]), args=_json, request_id=_json)
def test_fuzzed_requests_never_stop_the_agent_or_look_like_its_bug(agent, op, args, request_id):
    frame = {"type": "request", "id": request_id, "op": op, "args": args}
    reply = agent.send(json.dumps(frame).encode())
    assert reply["type"] in ("result", "error"), reply
    if reply["type"] == "error":
        assert reply["code"] != "internal", reply
    assert agent.ping()
