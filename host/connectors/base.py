"""What every connector (local subprocess, SSH) provides to the rest of the host.

A connector knows how to reach one device: put files under the device root and
start the agent there with its stdin/stdout as the protocol channel. Everything
above it (session, push, bench, install) is the same for every connector.
"""

import abc
import threading


class AgentChannel(abc.ABC):
    """A running agent: binary ``stdin`` to write frames, ``stdout`` to read them."""

    stdin = None
    stdout = None

    def __init__(self):
        self._stderr_tail = b""
        self._lock = threading.Lock()

    def _collect_stderr(self, stream):
        # Drained continuously so a chatty agent never blocks on a full pipe.
        for chunk in iter(lambda: stream.read(1024), b""):
            with self._lock:
                self._stderr_tail = (self._stderr_tail + chunk)[-8192:]

    def stderr_tail(self):
        with self._lock:
            return self._stderr_tail.decode("utf-8", "replace").strip()

    @abc.abstractmethod
    def close(self, timeout_s=10):
        """Close stdin, wait for the agent to exit, kill it if it does not."""

    @abc.abstractmethod
    def kill(self):
        """Stop the agent now."""


class Connector(abc.ABC):
    def __init__(self, device):
        self.device = device

    @property
    @abc.abstractmethod
    def root(self):
        """The device root as the agent sees it."""

    @abc.abstractmethod
    def describe(self):
        """A short human description: 'local subprocess at ...', 'ssh pi@pi4:22'."""

    def open(self):
        """Connect (no-op for local)."""

    def close(self):
        """Disconnect."""

    @abc.abstractmethod
    def exists(self, relative_path):
        """Whether a file exists under the device root."""

    @abc.abstractmethod
    def upload(self, local_path, relative_path):
        """Copy a local file to ``root/relative_path``; returns the bytes sent."""

    @abc.abstractmethod
    def start_agent(self, relative_zipapp):
        """Run the agent zipapp at ``root/relative_zipapp``; returns an AgentChannel."""

    def __enter__(self):
        self.open()
        return self

    def __exit__(self, *exc):
        self.close()
