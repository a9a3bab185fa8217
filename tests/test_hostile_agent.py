"""A hostile or buggy agent (issue 9, item 17): replies with wrong types, NaN figures or
variants nobody asked for are refused with exit 6 and what was wrong. The agent here is
a real process speaking the real protocol over the local connector; it only lies."""

import json
import os
import stat
import sys
import textwrap

import pytest

from .conftest import cli

LIAR = textwrap.dedent('''\
    #!{python}
    import json, sys
    def send(frame):
        sys.stdout.write(json.dumps(frame) + "\\n"); sys.stdout.flush()
    send({{"type": "hello", "protocol": 1, "agent_version": "0.1.0", "python": "3.11",
           "facts": {{"runtimes": {{"onnxruntime": {{"available": True, "version": "1.0"}}}}}}}})
    for line in sys.stdin:
        frame = json.loads(line)
        op, rid, args = frame.get("op"), frame.get("id"), frame.get("args") or {{}}
        if op == "have_blobs":
            send({{"type": "result", "id": rid, "data": {{"missing": []}}}})
        elif op == "bench":
            for variant in args["variants"]:
                data = {lie}
                data.setdefault("variant", variant["name"])
                send({{"type": "event", "id": rid, "kind": "measurement", "data": data}})
            send({{"type": "result", "id": rid, "data": {{"measured": []}}}})
        elif op == "shutdown":
            send({{"type": "result", "id": rid, "data": {{"bye": True}}}}); break
        else:
            send({{"type": "result", "id": rid, "data": {{}}}})
''')


@pytest.mark.parametrize("lie, words", [
    ('{"ok": True, "schema": 3, "latency_pass": {"latency": {"n": "many", "p50_ms": "fast"}}}',
     "latency_pass.latency.n: expected an integer"),
    ('{"ok": True, "schema": 3, "memory": {"peak_rss_mb": float("nan")}}', "memory.peak_rss_mb: expected a number, got NaN"),
    ('{"ok": "yes", "schema": 3}', "ok: expected true or false"),
    ('{"ok": True, "schema": 3, "variant": "rm -rf"}', "a measurement of 'rm -rf', which was not asked for"),
    ('{"ok": True, "schema": 3, "latency_pass": {"samples_ms": [1.0, "x"]}}', "samples_ms[1]: expected a number"),
])
def test_lies_from_an_agent_are_exit_6_with_what_was_wrong(tmp_path, host_env, lie, words):
    script = tmp_path / "liar.py"
    script.write_text(LIAR.format(python=sys.executable, lie=lie))
    script.chmod(script.stat().st_mode | stat.S_IEXEC)
    devices = tmp_path / "devices.toml"
    devices.write_text('[devices.liar]\nconnection = "local"\nroot = "%s"\npython = "%s"\n'
                       % (tmp_path / "board", script))
    from edgeshrink.host.lab.models import tiny_convnet

    model = tiny_convnet(tmp_path / "tiny.onnx")
    result = cli(host_env, devices, "bench", str(model), "-d", "liar", "--json", "--recipe",
                 str(_fp32_only(tmp_path)))
    assert result.returncode == 6, result.stderr
    document = json.loads(result.stdout)
    message = document["devices"][0]["error"]["message"] if "devices" in document else document["error"]["message"]
    assert words in message, message
    assert "internal error" not in result.stderr
    assert not os.path.exists(host_env["EDGESHRINK_DB"]) or "liar" not in open(host_env["EDGESHRINK_DB"], "rb").read().decode("latin-1")


def _fp32_only(tmp_path):
    path = tmp_path / "recipe.toml"
    path.write_text('[[variant]]\nname = "fp16"\nsteps = [{ step = "fp16" }]\n')
    return path


def test_progress_events_from_a_board_can_neither_break_nor_style_the_bars():
    import io

    from rich.console import Console

    from edgeshrink.host.render import LiveProgress

    console = Console(file=io.StringIO(), force_terminal=False, width=200)
    events = [{"variant": "[red]v", "phase": "timed", "max_time_s": "soon", "elapsed_s": None, "done": [1]},
              {"variant": "v", "phase": "profile", "total": float("nan"), "done": "x", "stage": "[blink]s"},
              {"variant": "v", "phase": "sustained", "duration_s": 1e308, "elapsed_s": -5, "p50_ms": "x"},
              {"variant": "v", "phase": "fidelity", "total": True},
              {"variant": "v", "phase": "[bold]evil"},
              {"variant": 7, "phase": "health_check"}]
    with LiveProgress(console=console) as live:
        for event in events:
            live("board", "progress", event)
    shown = console.file.getvalue()
    assert "[bold]evil" in shown and "[red]v" in shown     # printed as text, not obeyed as markup
