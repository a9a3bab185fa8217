"""A throwaway PostgreSQL server on 127.0.0.1, for the shared-store tests and benchmark.

``initdb`` and ``pg_ctl`` from Debian's ``postgresql`` package (or any on PATH) make a
cluster in a temporary directory and start it on a free port with trust
authentication for local connections only. PostgreSQL refuses to run as root, so
under root the server runs as ``nobody`` (the directory is handed to that user).
``unavailable()`` says why a server cannot start here, for tests to skip with.
"""

import glob
import os
import shutil
import subprocess
import tempfile
from pathlib import Path

from .sshd import free_port

UNPRIVILEGED_USER = "nobody"
START_WAIT_S = 60


def _tool(name):
    for candidate in sorted(glob.glob("/usr/lib/postgresql/*/bin/" + name), reverse=True):
        return candidate
    return shutil.which(name)


def unavailable():
    """Why no server can be started here, or None."""
    missing = [name for name in ("initdb", "pg_ctl") if _tool(name) is None]
    if missing:
        return "no %s (install Debian's postgresql package)" % " or ".join(missing)
    if os.geteuid() == 0 and shutil.which("setpriv") is None:
        return "running as root and no setpriv to start PostgreSQL as an unprivileged user"
    return None



class TemporaryPostgres:
    """``with TemporaryPostgres() as server: server.url`` -> postgresql://edgeshrink@127.0.0.1:PORT/edgeshrink"""

    def __init__(self, user="edgeshrink"):
        self.user = user
        self.port = free_port()
        self.workdir = Path(tempfile.mkdtemp(prefix="edgeshrink-pg-"))
        self.datadir = self.workdir / "data"
        self.url = "postgresql://%s@127.0.0.1:%d/postgres" % (user, self.port)

    def _as_server_user(self, argv):
        if os.geteuid() != 0:
            return argv
        return ["setpriv", "--reuid", UNPRIVILEGED_USER, "--regid", "nogroup", "--clear-groups", "--"] + argv

    def _run(self, argv, what):
        result = subprocess.run(self._as_server_user(argv), cwd=str(self.workdir), capture_output=True,
                                text=True, timeout=START_WAIT_S)
        if result.returncode != 0:
            raise RuntimeError("PostgreSQL %s failed: %s" % (what, (result.stderr or result.stdout).strip()[-800:]))

    def start(self):
        if os.geteuid() == 0:
            os.chmod(self.workdir, 0o755)
            shutil.chown(self.workdir, UNPRIVILEGED_USER)
        self._run([_tool("initdb"), "-D", str(self.datadir), "-U", self.user, "--auth=trust",
                   "--encoding=UTF8", "--no-sync", "--locale=C"], "initdb")
        options = "-c listen_addresses=127.0.0.1 -p %d -k %s -c fsync=off -c max_connections=300" % (
            self.port, self.workdir)
        self._run([_tool("pg_ctl"), "-D", str(self.datadir), "-l", str(self.workdir / "server.log"),
                   "-o", options, "-w", "-t", str(START_WAIT_S), "start"], "start")
        return self

    def stop(self):
        if self.datadir.exists():
            try:
                self._run([_tool("pg_ctl"), "-D", str(self.datadir), "-m", "immediate", "stop"], "stop")
            except (RuntimeError, subprocess.TimeoutExpired):
                pass   # already gone; the directory goes anyway
        shutil.rmtree(self.workdir, ignore_errors=True)

    def __enter__(self):
        try:
            return self.start()
        except BaseException:
            self.stop()
            raise

    def __exit__(self, *exc):
        self.stop()
