"""The agent side must run on a board: Python 3.8, the standard library, optional runtimes."""

import subprocess

from edgeshrink.host import agent_bundle

from .conftest import REPO

# Which modules agent/ and shared/ may import is checked in test_boundaries.py.
AGENT_SOURCES = sorted((REPO / "agent").rglob("*.py")) + sorted((REPO / "shared").rglob("*.py"))


def test_agent_sources_compile_under_python38(python38):
    files = [str(p) for p in AGENT_SOURCES]
    # compile() parses with 3.8's grammar without writing .pyc files into the checkout.
    script = "import sys\nfor f in sys.argv[1:]: compile(open(f).read(), f, 'exec')"
    result = subprocess.run([python38, "-c", script] + files, capture_output=True, text=True)
    assert result.returncode == 0, result.stderr


def test_zipapp_runs_under_python38_without_torch_or_host_packages(python38, tmp_path):
    bundle = agent_bundle.build(tmp_path)
    probe = ('{"type":"request","id":1,"op":"facts"}\n'
             '{"type":"request","id":2,"op":"shutdown"}\n')
    result = subprocess.run([python38, "-I", str(bundle.path), "--root", str(tmp_path / "root")],
                            input=probe, capture_output=True, text=True, timeout=60)
    assert result.returncode == 0, result.stderr
    lines = result.stdout.splitlines()
    assert '"type":"hello"' in lines[0] and '"python":"3.8.' in lines[0]
    assert '"type":"result","id":2' in lines[-1]
    missing = subprocess.run([python38, "-I", "-c", "import torch"], capture_output=True)
    assert missing.returncode != 0  # the board environment really has no torch


def test_zipapp_build_is_reproducible(tmp_path):
    assert agent_bundle.build(tmp_path / "a").sha256 == agent_bundle.build(tmp_path / "b").sha256
