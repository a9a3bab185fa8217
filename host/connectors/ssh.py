"""A board reached over SSH (paramiko), behind the same interface as ``local``.

paramiko and socket errors are translated here, where they enter, into ConnectError
(or HostKeyError) and TransferError, each one line naming the device. Failures worth
retrying (timeouts, refused or unreachable, a connection that broke) are
TransientConnectError, and ``open`` retries on that type alone. Remote command lines
are built from argument lists with shlex.quote, never by pasting strings.
"""

import os
import shlex
import socket
import threading
import time

from ...shared.conventions import UPLOAD_SUFFIX
from ...shared.errors import ConnectError, RemoteError, TransferError, TransientConnectError
from . import hostkeys, ssh_target
from .base import AgentChannel, Connector

KEEPALIVE_S = 15
DEFAULT_ROOT = "~/.edgeshrink"
MAX_BACKOFF_S = 30.0
MIN_PYTHON = (3, 8)


def command_line(args):
    """One shell-safe command line from an argument list."""
    return " ".join(shlex.quote(str(a)) for a in args)


class SshChannel(AgentChannel):
    def __init__(self, channel):
        super().__init__()
        self.channel = channel
        self.stdin = channel.makefile_stdin("wb")
        self.stdout = channel.makefile("rb")
        stderr = channel.makefile_stderr("rb")
        threading.Thread(target=self._collect_stderr, args=(stderr,), daemon=True).start()

    def close(self, timeout_s=10):
        try:
            self.channel.shutdown_write()
            deadline = time.monotonic() + timeout_s
            while not self.channel.exit_status_ready() and time.monotonic() < deadline:
                time.sleep(0.05)
        except (OSError, EOFError):
            pass
        self.channel.close()

    def kill(self):
        self.channel.close()


class SshConnector(Connector):
    def __init__(self, device, accept_new_host_key=False):
        super().__init__(device)
        self.target = ssh_target.for_device(device)
        self.accept_new_host_key = accept_new_host_key
        self.clients = []   # the board's client last; jump hosts before it
        self.sftp = None
        self._root = None
        self._python = None
        self.python_version = None
        self._made_dirs = set()

    # -- connecting ----------------------------------------------------------

    def _translate(self, target, exc):
        import paramiko

        where = "device '%s' (%s)" % (self.device.name, target.describe())
        if isinstance(exc, hostkeys.HostKeyError):
            return exc
        if isinstance(exc, paramiko.BadHostKeyException):
            return hostkeys.changed_key_error(self.device.name, target, exc.expected_key, exc.key)
        if isinstance(exc, paramiko.AuthenticationException):
            tried = ", ".join(target.identity_files) or "default keys"
            return ConnectError("%s: authentication failed (tried %s and the ssh-agent)" % (where, tried),
                                "check `user` and `identity_file` in devices.toml, or ssh-copy-id to the board")
        if isinstance(exc, socket.gaierror):
            return ConnectError("%s: cannot resolve host name %r" % (where, target.hostname))
        if isinstance(exc, (socket.timeout, TimeoutError)):
            return TransientConnectError("%s: timed out after %.0fs" % (where, self.device.connect_timeout_s),
                                         "is the board on and reachable?")
        if isinstance(exc, (paramiko.ssh_exception.NoValidConnectionsError, ConnectionRefusedError)):
            return TransientConnectError("%s: unreachable (connection refused)" % where,
                                         "is sshd running on the board?")
        if isinstance(exc, (paramiko.SSHException, OSError, EOFError)):
            return TransientConnectError("%s: SSH failed: %s" % (where, exc or type(exc).__name__))
        return exc

    def _connect_one(self, target, sock):
        import paramiko

        client = paramiko.SSHClient()
        if os.path.isfile(target.known_hosts):
            client.load_host_keys(target.known_hosts)
        client.set_missing_host_key_policy(hostkeys.make_policy(self.device.name, target,
                                                                self.accept_new_host_key))
        timeout = self.device.connect_timeout_s
        try:
            client.connect(target.hostname, port=target.port, username=target.user,
                           key_filename=target.identity_files or None, timeout=timeout,
                           banner_timeout=timeout, auth_timeout=timeout, sock=sock,
                           allow_agent=True, look_for_keys=not target.identity_files)
        except Exception as exc:
            client.close()
            raise self._translate(target, exc)
        client.get_transport().set_keepalive(KEEPALIVE_S)
        return client

    def _connect_chain(self):
        sock = None
        hops = self.target.jumps + [self.target]
        for index, hop in enumerate(hops):
            client = self._connect_one(hop, sock)
            self.clients.append(client)
            if index + 1 < len(hops):
                following = hops[index + 1]
                try:
                    sock = client.get_transport().open_channel(
                        "direct-tcpip", (following.hostname, following.port), ("127.0.0.1", 0),
                        timeout=self.device.connect_timeout_s)
                except Exception as exc:
                    raise self._translate(hop, exc)

    def open(self):
        attempts = max(1, self.device.retries)
        for attempt in range(attempts):
            try:
                self._connect_chain()
                break
            except TransientConnectError:
                self.close()
                if attempt + 1 >= attempts:
                    raise
                time.sleep(min(MAX_BACKOFF_S, 0.5 * 2 ** attempt))  # 0.5 s, 1 s, 2 s ... at most 30 s
        try:
            self.sftp = self.clients[-1].open_sftp()
            home = self.sftp.normalize(".")
        except Exception as exc:
            self.close()
            raise self._translate(self.target, exc)
        root = self.device.root or DEFAULT_ROOT
        self._root = home + root[1:] if root.startswith("~") else root
        self._python = self._find_python()

    def close(self):
        if self.sftp is not None:
            self.sftp.close()
            self.sftp = None
        for client in reversed(self.clients):
            client.close()
        self.clients = []

    # -- remote commands -----------------------------------------------------

    def run(self, args, timeout_s=60):
        try:
            _, stdout, stderr = self.clients[-1].exec_command(command_line(args), timeout=timeout_s)
            out = stdout.read().decode("utf-8", "replace")
            err = stderr.read().decode("utf-8", "replace")
            return stdout.channel.recv_exit_status(), out, err
        except socket.timeout:
            # exec_command's timeout: the command ran silent that long. A broken link
            # fails differently (EOF or an SSH error), so this is the command's failure.
            raise RemoteError("device '%s': %s did not finish within %ds" % (self.device.name, args[0], timeout_s))
        except Exception as exc:
            raise self._translate(self.target, exc)

    def _find_python(self):
        """devices.toml's python, else the venv `devices setup` made, else python3."""
        candidates = [self.device.python] if self.device.python else [self._root + "/venv/bin/python", "python3"]
        probe = "import sys; print('%d.%d.%d' % sys.version_info[:3])"
        for python in candidates:
            status, out, _ = self.run([python, "-c", probe])
            if status == 0:
                version = tuple(int(p) for p in out.strip().split("."))
                if version < MIN_PYTHON:
                    raise ConnectError("device '%s': %s on the board is Python %s; the agent needs >= 3.8"
                                       % (self.device.name, python, out.strip()),
                                       "install python3.8+ there and set `python` in devices.toml")
                self.python_version = out.strip()
                return python
        raise ConnectError("device '%s': no usable Python on the board (tried %s)"
                           % (self.device.name, ", ".join(candidates)),
                           "install python3 >= 3.8 there, or set `python` in devices.toml")

    # -- the connector interface ---------------------------------------------

    @property
    def root(self):
        return self._root

    @property
    def python(self):
        return self._python

    def describe(self):
        jumps = "".join(" via %s" % j.describe() for j in self.target.jumps)
        return "ssh %s%s" % (self.target.describe(), jumps)

    def _remote(self, relative_path):
        return "%s/%s" % (self._root, relative_path)

    def exists(self, relative_path):
        try:
            self.sftp.stat(self._remote(relative_path))
            return True
        except IOError:
            return False

    def _makedirs(self, path):
        if path in self._made_dirs:  # each stat is a round trip: ask once per session
            return
        parts = path.strip("/").split("/")
        for i in range(1, len(parts) + 1):
            folder = "/" + "/".join(parts[:i])
            try:
                self.sftp.stat(folder)
            except IOError:
                self.sftp.mkdir(folder)
        self._made_dirs.add(path)

    def upload(self, local_path, relative_path, temporary_suffix=UPLOAD_SUFFIX):
        """SFTP to a temporary name, then rename: a partial file is never at the final name."""
        target = self._remote(relative_path)
        temporary = target + temporary_suffix
        try:
            self._makedirs(target.rsplit("/", 1)[0])
            attributes = self.sftp.put(str(local_path), temporary, confirm=True)
            self.sftp.posix_rename(temporary, target)
        except (IOError, OSError, EOFError) as exc:
            raise TransferError("device '%s': upload of %s failed: %s"
                                % (self.device.name, os.path.basename(str(local_path)), exc))
        return attributes.st_size

    def start_agent(self, relative_zipapp):
        line = command_line([self.python, self._remote(relative_zipapp), "--root", self._root])
        try:
            channel = self.clients[-1].get_transport().open_session()
            channel.exec_command("exec " + line)
        except Exception as exc:
            raise self._translate(self.target, exc)
        return SshChannel(channel)
