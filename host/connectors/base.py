"""What every connector (local subprocess, SSH) provides to the rest of the host.

A connector knows how to reach one device: run a command there, put files under
the device root and start the agent with its stdin/stdout as the protocol channel.
Everything above it (session, push, bench, install, setup) is the same for every
connector and uses only what ``Connector`` declares here.
"""

import abc
import threading

from ...shared.conventions import UPLOAD_SUFFIX


class AgentChannel(abc.ABC):
    """A running agent: binary ``stdin`` to write frames, ``stdout`` to read them."""

    stdin = None
    stdout = None

    def __init__(self):
        self._stderr_tail = b""
        self._lock = threading.Lock()
        self._stderr_ended = threading.Event()

    def _collect_stderr(self, stream):
        # Drained continuously so a chatty agent never blocks on a full pipe.
        try:
            for chunk in iter(lambda: stream.read(1024), b""):
                with self._lock:
                    self._stderr_tail = (self._stderr_tail + chunk)[-8192:]
        except (OSError, ValueError):
            pass  # the channel closed under us
        finally:
            self._stderr_ended.set()

    def stderr_tail(self, wait_s=0.0):
        """The last of what the agent wrote on stderr. An agent that just died may still
        have its last words in the pipe: ``wait_s`` bounds the wait for the pipe's end."""
        self._stderr_ended.wait(wait_s)
        with self._lock:
            return self._stderr_tail.decode("utf-8", "replace").strip()

    @abc.abstractmethod
    def close(self, timeout_s=10):
        """Close stdin, wait for the agent to exit, kill it if it does not."""

    @abc.abstractmethod
    def kill(self):
        """Stop the agent now."""


class Connector(abc.ABC):
    """One device's connection. ``device`` is its devices.toml entry (an inventory.Device).

    ``root`` and ``python`` are known once ``open`` has returned: over SSH both are
    learned from the board (its home directory, the interpreter that answered).
    """

    def __init__(self, device):
        self.device = device

    @property
    @abc.abstractmethod
    def root(self):
        """The device root as the agent sees it."""

    @property
    @abc.abstractmethod
    def python(self):
        """The interpreter that runs the agent on the device (a path or a command name)."""

    @abc.abstractmethod
    def describe(self):
        """A short human description: 'local subprocess at ...', 'ssh pi@pi4:22'."""

    def open(self):
        """Connect (no-op for local)."""

    def close(self):
        """Disconnect."""

    @abc.abstractmethod
    def run(self, args, timeout_s=60):
        """Run one command, an argument list (never a shell line), on the device.

        Returns (exit status, stdout, stderr), the streams as text. A command that
        cannot be started exits 127, as a shell reports it; one still running after
        ``timeout_s`` raises RemoteError.
        """

    @abc.abstractmethod
    def exists(self, relative_path):
        """Whether a file exists under the device root."""

    @abc.abstractmethod
    def upload(self, local_path, relative_path, temporary_suffix=UPLOAD_SUFFIX):
        """Copy a local file to ``root/relative_path``; returns the bytes sent. It is
        written to ``relative_path + temporary_suffix`` and renamed into place: a caller
        whose path others may upload at the same moment passes a suffix of its own."""

    @abc.abstractmethod
    def start_agent(self, relative_zipapp):
        """Run the agent zipapp at ``root/relative_zipapp``; returns an AgentChannel."""

    def __enter__(self):
        self.open()
        return self

    def __exit__(self, *exc):
        self.close()
