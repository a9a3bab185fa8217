"""Shared fixtures: isolated host directories, the demo model, fast benchmark settings,
and the Python 3.8 interpreter the agent must run under."""

import os
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

from edgeshrink.shared.types import BenchSettings

from edgeshrink.host.lab.models import tiny_convnet

REPO = Path(__file__).resolve().parent.parent
# One round: the tests that are about rounds ask for them.
FAST_FLAGS = ["--min-runs", "20", "--min-time", "0.05", "--max-time", "1", "--rounds", "1"]
FAST = BenchSettings(threads=1, warmup_runs=3, min_runs=20, max_runs=300, min_time_s=0.05, max_time_s=1.0, idle_s=0.3,
                     rounds=1)


def install_vcgencmd(tmp_path, fixture_folder):
    """A fixture's stand-in vcgencmd, copied under tmp_path and made executable (a checkout
    may drop the mode bit); returns its path (its folder can go first on PATH)."""
    target = tmp_path / fixture_folder.name / "vcgencmd"
    target.parent.mkdir(parents=True, exist_ok=True)
    shutil.copyfile(fixture_folder / "vcgencmd", target)
    target.chmod(0o755)
    return str(target)


def _python38():
    candidates = [os.environ.get("EDGESHRINK_PY38"), str(REPO / ".venv38" / "bin" / "python")]
    for candidate in candidates:
        if candidate and Path(candidate).exists():
            return candidate
    return None


@pytest.fixture(scope="session")
def python38():
    """A Python 3.8 with onnxruntime and numpy: what a JetPack 5 board has."""
    path = _python38()
    if path is None:
        pytest.fail("no Python 3.8 agent environment: run `bash scripts/setup-dev.sh` "
                    "(creates .venv38 from pyenv's 3.8.18) or set EDGESHRINK_PY38")
    version = subprocess.run([path, "-c", "import sys; print(sys.version_info[:2])"],
                             capture_output=True, text=True, check=True).stdout.strip()
    assert version == "(3, 8)", version
    return path


@pytest.fixture(scope="session")
def shared_cache(tmp_path_factory):
    """One host cache for the whole session (the demo takes about a minute to build).

    EDGESHRINK_TEST_CACHE keeps it across sessions on a developer's machine.
    """
    persistent = os.environ.get("EDGESHRINK_TEST_CACHE")
    path = Path(persistent) if persistent else tmp_path_factory.mktemp("cache")
    path.mkdir(parents=True, exist_ok=True)
    return path


@pytest.fixture(scope="session")
def demo(shared_cache):
    from edgeshrink.host.demo.build import ensure_demo

    return ensure_demo(shared_cache / "demo", log=lambda message: None)


@pytest.fixture
def host_env(tmp_path, shared_cache, monkeypatch):
    """Per-test results database and device roots; the shared cache for speed."""
    env = {"EDGESHRINK_CACHE": str(shared_cache), "EDGESHRINK_DB": str(tmp_path / "results.sqlite"),
           "EDGESHRINK_LOCAL_ROOT": str(tmp_path / "devices"), "XDG_DATA_HOME": str(tmp_path / "data")}
    for key, value in env.items():
        monkeypatch.setenv(key, value)
    return env


@pytest.fixture
def tiny_model(tmp_path):
    return tiny_convnet(tmp_path / "tiny.onnx")


def runs_in(db):
    """How many runs a results database holds (0 when it was never created)."""
    import sqlite3

    if not os.path.exists(db):
        return 0
    with sqlite3.connect(db) as connection:
        return connection.execute("SELECT COUNT(*) FROM runs").fetchone()[0]


def cli(env, devices_file, *args):
    """The console command with a given devices.toml."""
    return run_cli(["--devices", str(devices_file)] + list(args), env)


def _console_command():
    return shutil.which("edgeshrink", path=str(Path(sys.executable).parent)) or "edgeshrink"


def run_cli(args, env, cwd=None, timeout=600):
    """The installed console command, as a user runs it."""
    return subprocess.run([_console_command()] + list(args), capture_output=True, text=True,
                          env=dict(os.environ, **env), cwd=cwd, timeout=timeout)


def start_cli(args, env):
    """The console command started in the background (several at once, or to interrupt)."""
    return subprocess.Popen([_console_command()] + list(args), stdout=subprocess.PIPE, stderr=subprocess.PIPE,
                            text=True, env=dict(os.environ, **env))


@pytest.fixture(scope="session")
def ssh_server(tmp_path_factory):
    """A real OpenSSH server on 127.0.0.1 with generated host and user keys."""
    from edgeshrink.host.lab.sshd import SshServer, sshd_path

    if sshd_path() is None:
        pytest.fail("sshd is not installed: run `bash scripts/setup.sh --test` (installs openssh-server)")
    server = SshServer(tmp_path_factory.mktemp("sshd")).start()
    yield server
    server.stop()


def ssh_devices_file(path, credentials, name="board", **extra):
    """A devices.toml with one ssh device reaching the lab server."""
    extra.setdefault("retries", 1)
    extra.setdefault("connect_timeout_s", 5.0)
    path.write_text(credentials.device_toml(name, **extra))
    return path


@pytest.fixture(scope="session")
def postgres_server():
    """A real PostgreSQL server on 127.0.0.1 (Debian's initdb and pg_ctl, run unprivileged)."""
    from edgeshrink.host.lab.postgres import TemporaryPostgres, unavailable

    reason = unavailable()
    if reason:
        pytest.skip("no PostgreSQL server can start here: %s" % reason)
    with TemporaryPostgres() as server:
        yield server


@pytest.fixture
def postgres_url(postgres_server, request):
    """A fresh, empty database on the session's server, as a postgresql:// URL."""
    import psycopg

    name = "t_%d_%s" % (os.getpid(), "".join(c for c in request.node.name.lower() if c.isalnum())[:40])
    with psycopg.connect(postgres_server.url, autocommit=True) as connection:
        connection.execute("DROP DATABASE IF EXISTS %s" % name)
        connection.execute("CREATE DATABASE %s" % name)
    return postgres_server.url.rsplit("/", 1)[0] + "/" + name
