"""The built-in ``local`` device: the agent as a subprocess of the host.

It speaks exactly the protocol an SSH device does, with its own device root, so
the whole pipeline can be tried and tested on one machine.
"""

import os
import shutil
import subprocess
import sys
import threading
from pathlib import Path

from ...shared.conventions import UPLOAD_SUFFIX
from ...shared.errors import ConnectError, RemoteError, TransferError
from .. import paths
from .base import AgentChannel, Connector


class LocalChannel(AgentChannel):
    def __init__(self, process):
        super().__init__()
        self.process = process
        self.stdin = process.stdin
        self.stdout = process.stdout
        threading.Thread(target=self._collect_stderr, args=(process.stderr,), daemon=True).start()

    def close(self, timeout_s=10):
        try:
            self.stdin.close()
        except OSError:
            pass
        try:
            self.process.wait(timeout=timeout_s)
        except subprocess.TimeoutExpired:
            self.kill()

    def kill(self):
        if self.process.poll() is None:
            self.process.kill()
            self.process.wait()


class LocalConnector(Connector):
    def __init__(self, device):
        super().__init__(device)
        root = device.root or str(paths.local_device_roots() / device.name)
        self._root = Path(os.path.expanduser(root)).resolve()
        self._python = device.python or sys.executable

    @property
    def root(self):
        return str(self._root)

    @property
    def python(self):
        return self._python

    def run(self, args, timeout_s=60):
        command = [str(a) for a in args]
        try:
            done = subprocess.run(command, stdin=subprocess.DEVNULL, stdout=subprocess.PIPE,
                                  stderr=subprocess.PIPE, timeout=timeout_s)
        except subprocess.TimeoutExpired:
            raise RemoteError("device '%s': %s did not finish within %ds"
                              % (self.device.name, command[0], timeout_s))
        except OSError as exc:  # what a shell would report as "command not found"
            return 127, "", "%s: %s" % (command[0], exc.strerror or exc)
        return (done.returncode, done.stdout.decode("utf-8", "replace"),
                done.stderr.decode("utf-8", "replace"))

    def describe(self):
        return "local subprocess (%s) with root %s" % (self.python, self._root)

    def exists(self, relative_path):
        return (self._root / relative_path).is_file()

    def upload(self, local_path, relative_path, temporary_suffix=UPLOAD_SUFFIX):
        target = self._root / relative_path
        try:
            target.parent.mkdir(parents=True, exist_ok=True)
            temporary = target.with_name(target.name + temporary_suffix)
            shutil.copyfile(local_path, temporary)
            # Measured before the rename: the agent turns ``target`` into a blob as soon
            # as it appears, so it may be gone by the time this line would look at it.
            size = os.path.getsize(temporary)
            os.replace(temporary, target)
        except OSError as exc:
            raise TransferError("could not copy %s to device '%s': %s"
                                % (local_path, self.device.name, exc.strerror or exc))
        return size

    def start_agent(self, relative_zipapp):
        command = [self.python, str(self._root / relative_zipapp), "--root", str(self._root)]
        try:
            process = subprocess.Popen(command, stdin=subprocess.PIPE, stdout=subprocess.PIPE,
                                       stderr=subprocess.PIPE)
        except OSError as exc:
            raise ConnectError("device '%s': cannot start the agent with %s: %s"
                               % (self.device.name, self.python, exc.strerror or exc),
                               "set `python` in devices.toml to an interpreter >= 3.8")
        return LocalChannel(process)
