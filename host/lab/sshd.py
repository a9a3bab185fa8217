"""A real OpenSSH server on this machine, for tests and for trying edgeshrink without a board.

Each server has its own generated host key, a generated user key allowed to log in as
the current user, and a known_hosts file recording its host key, all under one
working directory. Nothing outside that directory is changed (except /run/sshd,
which sshd insists on for privilege separation).
"""

import json
import os
import shutil
import socket
import subprocess
import time
from dataclasses import dataclass
from pathlib import Path

SSHD_CANDIDATES = ("/usr/sbin/sshd", "/usr/local/sbin/sshd")

CONFIG = """\
Port {port}
ListenAddress {listen}
HostKey {host_key}
PidFile {workdir}/sshd.pid
AuthorizedKeysFile {workdir}/authorized_keys
PubkeyAuthentication yes
PasswordAuthentication no
KbdInteractiveAuthentication no
PermitRootLogin prohibit-password
StrictModes no
UsePAM no
AllowTcpForwarding yes
Subsystem sftp internal-sftp
MaxSessions 100
MaxStartups 100:30:200
LogLevel ERROR
"""


def sshd_path():
    for candidate in SSHD_CANDIDATES:
        if os.path.exists(candidate):
            return candidate
    return shutil.which("sshd")


def free_port(host="127.0.0.1"):
    with socket.socket() as sock:
        sock.bind((host, 0))
        return sock.getsockname()[1]


def keygen(path):
    subprocess.run(["ssh-keygen", "-q", "-t", "ed25519", "-N", "", "-C", "edgeshrink-lab", "-f", str(path)],
                   check=True, stdout=subprocess.DEVNULL)
    return path


@dataclass
class Credentials:
    host: str
    port: int
    user: str
    identity_file: str
    known_hosts: str

    def device_toml(self, name, **extra):
        """A [devices.NAME] table reaching this server; ``extra`` adds or overrides keys."""
        values = {"connection": "ssh", "host": self.host, "port": self.port, "user": self.user,
                  "identity_file": self.identity_file, "known_hosts": self.known_hosts}
        values.update(extra)
        # JSON string escapes are valid TOML basic-string escapes.
        lines = ["[devices.%s]" % name] + ["%s = %s" % (k, json.dumps(v)) for k, v in values.items()]
        return "\n".join(lines) + "\n\n"


class SshServer:
    """``sshd -D`` on ``listen:port``, optionally run through a prefix command
    (``ip netns exec NS``, a cgroup wrapper) to place it on a simulated board."""

    def __init__(self, workdir, listen="127.0.0.1", port=None, prefix=None, user_key=None):
        self.workdir = Path(workdir)
        self.listen = listen
        self.port = port or free_port(listen if listen.startswith("127.") else "127.0.0.1")
        self.prefix = list(prefix or [])
        self.user_key = Path(user_key) if user_key else None
        self.process = None

    @property
    def known_hosts(self):
        return self.workdir / "known_hosts"

    def credentials(self):
        import getpass

        return Credentials(self.listen, self.port, getpass.getuser(), str(self.user_key), str(self.known_hosts))

    def prepare(self):
        self.workdir.mkdir(parents=True, exist_ok=True)
        host_key = self.workdir / "host_key"
        if not host_key.exists():
            keygen(host_key)
        if self.user_key is None:
            self.user_key = self.workdir / "user_key"
            if not self.user_key.exists():
                keygen(self.user_key)
        (self.workdir / "authorized_keys").write_text(Path(str(self.user_key) + ".pub").read_text())
        (self.workdir / "sshd_config").write_text(CONFIG.format(
            port=self.port, listen=self.listen, host_key=host_key, workdir=self.workdir))
        name = self.listen if self.port == 22 else "[%s]:%d" % (self.listen, self.port)
        public = Path(str(host_key) + ".pub").read_text().split()
        self.known_hosts.write_text("%s %s %s\n" % (name, public[0], public[1]))
        os.makedirs("/run/sshd", mode=0o755, exist_ok=True)

    def start(self, timeout_s=15):
        executable = sshd_path()
        if executable is None:
            raise RuntimeError("sshd is not installed (apt-get install openssh-server)")
        self.prepare()
        command = self.prefix + [executable, "-D", "-e", "-f", str(self.workdir / "sshd_config")]
        log = open(self.workdir / "sshd.log", "ab")
        self.process = subprocess.Popen(command, stdout=log, stderr=log, stdin=subprocess.DEVNULL,
                                        start_new_session=True)
        deadline = time.monotonic() + timeout_s
        while time.monotonic() < deadline:
            if self.process.poll() is not None:
                raise RuntimeError("sshd exited: %s" % (self.workdir / "sshd.log").read_text()[-500:])
            if self._accepts():
                return self
            time.sleep(0.05)
        self.stop()
        raise RuntimeError("sshd did not start listening on %s:%d" % (self.listen, self.port))

    def _accepts(self):
        # A namespaced board is reached over its veth link, so the host can always probe it.
        try:
            socket.create_connection((self.listen, self.port), 1).close()
            return True
        except OSError:
            return False

    def drop_connections(self):
        """Kill every session sshd is serving (like a cable pulled), keeping the listener."""
        subprocess.run(["pkill", "-KILL", "-P", str(self.process.pid), "sshd"], check=False)

    def stop(self):
        if self.process is not None and self.process.poll() is None:
            try:
                os.killpg(self.process.pid, 15)
            except ProcessLookupError:
                pass
            try:
                self.process.wait(timeout=5)
            except subprocess.TimeoutExpired:
                os.killpg(self.process.pid, 9)
                self.process.wait()
        self.process = None

    def __enter__(self):
        return self.start()

    def __exit__(self, *exc):
        self.stop()
