import io
import json
import sys
import time
from pathlib import Path

import pytest
from hypothesis import given, settings, strategies as st

from edgeshrink.host.agent_bundle import AgentBundle
from edgeshrink.host.connectors.local import LocalConnector
from edgeshrink.host.inventory import Device
from edgeshrink.host.session import AgentSession
from edgeshrink.shared import protocol
from edgeshrink.shared.conventions import UPLOAD_SUFFIX, EventKind, Op
from edgeshrink.shared.errors import ConnectError, ModelError, ProtocolError, RemoteError, error_for_code


def test_frames_round_trip_and_end_with_newline():
    frame = protocol.request(3, "bench", {"variants": [{"name": "fp32"}]})
    data = protocol.encode(frame)
    assert data.endswith(b"\n") and data.count(b"\n") == 1
    assert protocol.decode(data) == frame


# The bytes on the wire, checked in: a change to the format (field order, separators,
# escaping, a renamed field or op) fails here in both directions and must be deliberate.
GOLDEN = Path(__file__).parent / "golden" / "protocol-v1.jsonl"
GOLDEN_FRAMES = [  # (what the line is, the frame built as host and agent build it)
    ("hello", protocol.hello("0.1.0", "3.8.18", {
        "machine": "aarch64", "cpu_count": 4, "memory_mb": 3794,
        "runtimes": {"onnxruntime": "1.16.3", "tflite": None}})),
    ("request", protocol.request(7, Op.BENCH, {
        "variants": [{"name": "int8-static", "sha256": "9f" * 32}], "settings": {"threads": 1, "min_runs": 20}})),
    ("event", protocol.event(7, EventKind.PROGRESS, {
        "variant": "int8-static", "pass": "latency", "done": 3, "of": 20, "unit": "\u00b5s"})),
    ("result", protocol.result(7, {"ok": True, "p50_ms": 1.25, "samples": [1.5, 1.25, 1.0], "power_w": None})),
    ("error", protocol.error(8, "model", "cannot load model: INVALID_PROTOBUF")),
    ("error-without-id", protocol.error(None, "protocol",
                                        "frame is not JSON: Expecting value: line 1 column 1 (char 0)")),
]


def golden_lines():
    return GOLDEN.read_bytes().splitlines(keepends=True)


def test_golden_file_has_one_line_per_frame_and_covers_every_frame_type():
    assert len(golden_lines()) == len(GOLDEN_FRAMES)
    assert {frame["type"] for _, frame in GOLDEN_FRAMES} == set(protocol.FRAME_TYPES)


@pytest.mark.parametrize("index", range(len(GOLDEN_FRAMES)), ids=[name for name, _ in GOLDEN_FRAMES])
def test_golden_frames_encode_and_decode_both_ways(index):
    frame, line = GOLDEN_FRAMES[index][1], golden_lines()[index]
    assert protocol.encode(frame) == line
    assert protocol.decode(line) == frame


def test_read_frame_yields_every_golden_frame_then_end_of_stream():
    stream = io.BytesIO(GOLDEN.read_bytes())
    assert [protocol.read_frame(stream) for _ in GOLDEN_FRAMES] == [frame for _, frame in GOLDEN_FRAMES]
    assert protocol.read_frame(stream) is None


def test_unknown_fields_are_kept_for_the_receiver_to_ignore():
    line = json.dumps({"type": "result", "id": 1, "data": {}, "future_field": 42}).encode()
    assert protocol.decode(line)["future_field"] == 42


@pytest.mark.parametrize("line", [b"not json\n", b"[1,2]\n", b'{"type":"telepathy"}\n', b"\xff\xfe\n"])
def test_malformed_frames_are_refused(line):
    with pytest.raises(protocol.FrameError):
        protocol.decode(line)


def test_frame_cap_applies_to_sending_and_reading():
    big = protocol.result(1, {"blob": "x" * protocol.FRAME_CAP})
    with pytest.raises(protocol.FrameError, match="cap"):
        protocol.encode(big)
    stream = io.BytesIO(b"x" * (protocol.FRAME_CAP + 10) + b"\n")
    with pytest.raises(protocol.FrameError, match="cap"):
        protocol.read_frame(stream)


def test_read_frame_end_of_stream_and_truncated_frame():
    assert protocol.read_frame(io.BytesIO(b"")) is None
    with pytest.raises(protocol.FrameError, match="ended inside"):
        protocol.read_frame(io.BytesIO(b'{"type":"hello"'))


def test_nan_cannot_be_sent():
    with pytest.raises(ValueError):
        protocol.encode(protocol.result(1, {"x": float("nan")}))


def test_wire_codes_map_back_to_error_classes():
    assert isinstance(error_for_code("model", "m"), ModelError)
    assert isinstance(error_for_code("protocol", "m"), ProtocolError)
    assert isinstance(error_for_code("no-such-code", "m"), RemoteError)


def _fake_agent(tmp_path, body):
    # A stand-in agent at the transport seam: a script the local connector starts
    # exactly as it starts the real zipapp.
    script = tmp_path / "fake.pyz"
    script.write_text("import sys, json\n" + body)
    return AgentBundle(path=script, sha256="f" * 64, size=script.stat().st_size)


def test_session_refuses_an_agent_with_another_protocol_version(tmp_path):
    bundle = _fake_agent(tmp_path, "print(json.dumps({'type': 'hello', 'protocol': 99}), flush=True)\n"
                                   "sys.stdin.read()\n")
    device = Device(name="fake", root=str(tmp_path / "root"), python=sys.executable)
    session = AgentSession(LocalConnector(device), bundle)
    with pytest.raises(ProtocolError, match="protocol 99"):
        with session:
            pass


def test_session_reports_an_agent_that_dies_before_hello(tmp_path):
    bundle = _fake_agent(tmp_path, "sys.stderr.write('boom: no runtime here\\n'); sys.exit(3)\n")
    device = Device(name="fake", root=str(tmp_path / "root"), python=sys.executable)
    with pytest.raises(ConnectError, match="boom: no runtime here"):
        with AgentSession(LocalConnector(device), bundle):
            pass


def test_each_session_sends_the_agent_under_a_temporary_name_of_its_own(tmp_path):
    # Two hosts starting on a new board at the same moment both send the agent: with one
    # shared temporary name, one host's rename took the file from under the other (CI
    # caught it as "upload of <agent>.pyz failed: No such file").
    suffixes = []

    class Recording(LocalConnector):
        def upload(self, local_path, relative_path, temporary_suffix=UPLOAD_SUFFIX):
            suffixes.append(temporary_suffix)
            return super().upload(local_path, relative_path, temporary_suffix)

    bundle = _fake_agent(tmp_path, "print(json.dumps({'type': 'hello', 'protocol': 99}), flush=True)\n")
    for root in ("a", "b"):
        device = Device(name="fake", root=str(tmp_path / root), python=sys.executable)
        with pytest.raises(ProtocolError):
            with AgentSession(Recording(device), bundle, hello_timeout_s=30):
                pass
        assert (tmp_path / root / "agent" / bundle.remote_name).read_bytes() == bundle.path.read_bytes()
        assert not [p.name for p in (tmp_path / root / "agent").iterdir() if p.name.endswith(UPLOAD_SUFFIX)]
    assert len(set(suffixes)) == 2 and all(s.endswith(UPLOAD_SUFFIX) and s != UPLOAD_SUFFIX for s in suffixes)


def test_session_times_out_on_a_silent_agent_and_stops_it_at_once(tmp_path):
    bundle = _fake_agent(tmp_path, "import time; time.sleep(30)\n")
    device = Device(name="fake", root=str(tmp_path / "root"), python=sys.executable)
    started = time.monotonic()
    with pytest.raises(ConnectError, match="no answer"):
        with AgentSession(LocalConnector(device), bundle, hello_timeout_s=1):
            pass
    # Not the goodbye's ten seconds of grace: an agent that never said hello is not listening.
    assert time.monotonic() - started < 8


@settings(max_examples=400, deadline=None)
@given(st.one_of(st.binary(max_size=200), st.text(max_size=200).map(lambda t: t.encode("utf-8", "replace"))))
def test_decode_fuzz_gives_a_frame_or_a_frame_error(line):
    # Both sides parse with this one function: the agent its requests, the host the agent's replies.
    try:
        frame = protocol.decode(line)
    except protocol.FrameError:
        return
    assert isinstance(frame, dict) and frame["type"] in protocol.FRAME_TYPES


def test_local_upload_reports_its_size_when_the_agent_takes_the_file_at_once(tmp_path, monkeypatch):
    # The agent renames an upload into blobs/ the moment it appears (CI once caught the
    # connector looking at the file after that and failing with FileNotFoundError).
    device = Device(name="race", root=str(tmp_path / "root"), python=sys.executable)
    connector = LocalConnector(device)
    source = tmp_path / "model.bin"
    source.write_bytes(b"x" * 1234)
    taken = tmp_path / "taken"
    real_replace = __import__("os").replace

    def replace_then_agent_takes_it(src, dst):
        real_replace(src, dst)
        real_replace(dst, taken)

    monkeypatch.setattr("os.replace", replace_then_agent_takes_it)
    assert connector.upload(source, "incoming/abc.part") == 1234
    assert taken.read_bytes() == source.read_bytes()
