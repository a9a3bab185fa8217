"""The agent's one root on the board, and the only place it writes.

    <root>/agent/<sha256>.pyz        agent zipapps, by content hash
    <root>/blobs/<sha256>            models and data, by content hash
    <root>/incoming/<name>.part      uploads in flight; never read as blobs
    <root>/deployments/<name>/       an installed model and its manifest
    <root>/active -> deployments/<name>   switched by atomic rename
    <root>/lock                      held while benchmarking or installing
"""

import errno
import fcntl
import hashlib
import os
import re
import shutil
import stat
import time
from contextlib import contextmanager

from ..shared.conventions import UPLOAD_SUFFIX, name_pattern
from ..shared.errors import ProtocolError, RemoteError, TransferError

# An upload nobody has written to for an hour was abandoned by a killed run.
STALE_UPLOAD_S = 3600.0

SHA256_RE = re.compile(r"^[0-9a-f]{64}$")
NAME_RE = name_pattern(128)


def check_sha(value):
    if not isinstance(value, str) or not SHA256_RE.match(value):
        raise ProtocolError("not a sha256 hex digest: %r" % (value,))
    return value


def check_name(value):
    # Names become path components: refuse anything that could leave the root.
    if not isinstance(value, str) or not NAME_RE.match(value):
        raise ProtocolError("not a valid name (letters, digits, . _ -): %r" % (value,))
    return value


class DeviceRoot:
    def __init__(self, root):
        self.root = os.path.abspath(os.path.expanduser(root))
        self.blobs = os.path.join(self.root, "blobs")
        self.incoming = os.path.join(self.root, "incoming")
        self.deployments = os.path.join(self.root, "deployments")
        self.active = os.path.join(self.root, "active")
        self.lock_path = os.path.join(self.root, "lock")

    def ensure(self):
        for path in (self.root, self.blobs, self.incoming, self.deployments):
            os.makedirs(path, exist_ok=True)

    # -- blobs ---------------------------------------------------------------

    def blob_path(self, sha):
        return os.path.join(self.blobs, check_sha(sha))

    def missing_blobs(self, shas):
        return [sha for sha in shas if not os.path.isfile(self.blob_path(sha))]

    def commit_blob(self, sha, incoming_name):
        """Verify an uploaded file's hash, then make it visible as a blob by rename."""
        check_sha(sha)
        check_name(incoming_name)
        source = os.path.join(self.incoming, incoming_name)
        if not os.path.lexists(source):
            raise TransferError("upload %s never arrived on the device" % incoming_name)
        _require_regular(source, incoming_name)
        # A complete file is the simplest case of one still arriving.
        return self.receive_blob(sha, incoming_name, os.path.getsize(source))

    def receive_blob(self, sha, incoming_name, size, stall_timeout_s=60.0):
        """Hash an upload while it arrives, then make it a blob (see host/push.py).

        Connectors write to ``<incoming>`` + UPLOAD_SUFFIX and rename it to ``<incoming>``
        when complete; reading the growing file overlaps the hash with the transfer.
        """
        check_sha(sha)
        check_name(incoming_name)
        final = os.path.join(self.incoming, incoming_name)
        growing = final + UPLOAD_SUFFIX
        digest = hashlib.sha256()
        done, identity = 0, None
        last_progress = time.monotonic()
        handle = None
        try:
            while True:
                if handle is None:
                    for candidate in (growing, final):
                        try:
                            # Never through a symlink: a blob is bytes that were uploaded.
                            handle = os.fdopen(os.open(candidate, os.O_RDONLY | getattr(os, "O_NOFOLLOW", 0)), "rb")
                            break
                        except OSError:
                            continue
                block = handle.read(1 << 20) if handle is not None else b""
                if block:
                    digest.update(block)
                    done += len(block)
                    last_progress = time.monotonic()
                    continue
                if done >= size and os.path.lexists(final):
                    identity = os.fstat(handle.fileno()) if handle is not None else None
                    break
                if time.monotonic() - last_progress > stall_timeout_s:
                    raise TransferError("upload %s stalled at %d of %d bytes" % (incoming_name, done, size))
                time.sleep(0.002)
        finally:
            if handle is not None:
                handle.close()
        _require_regular(final, incoming_name, identity)
        if done != size or digest.hexdigest() != sha:
            if os.path.exists(final):
                os.unlink(final)
            raise TransferError("upload corrupted in transit: expected sha256 %s (%d bytes), got %s (%d bytes)"
                                % (sha[:12], size, digest.hexdigest()[:12], done))
        os.replace(final, self.blob_path(sha))
        return {"sha256": sha, "size": size}

    def require_blob(self, sha):
        path = self.blob_path(sha)
        if not os.path.isfile(path):
            raise RemoteError("blob %s is not on the device; push it first" % sha[:12])
        return path

    # -- deployments ---------------------------------------------------------

    def active_name(self):
        try:
            return os.path.basename(os.readlink(self.active))
        except OSError:
            return None

    def switch_active(self, name):
        """Point ``active`` at a deployment (or remove it for None), atomically."""
        if name is None:
            if os.path.lexists(self.active):
                os.unlink(self.active)
            return
        staging = self.active + ".new"
        if os.path.lexists(staging):
            os.unlink(staging)
        os.symlink(os.path.join("deployments", check_name(name)), staging)
        os.replace(staging, self.active)

    # -- lock ----------------------------------------------------------------

    def remove_leftovers(self, stale_after_s=STALE_UPLOAD_S):
        """What killed runs left: staging deployments (only made under the lock we now
        hold, so any found is dead) and uploads untouched for ``stale_after_s`` (an upload
        in flight is written to continuously). Returns the names removed."""
        removed = []
        if os.path.isdir(self.deployments):
            for entry in os.listdir(self.deployments):
                if entry.endswith(".staging"):
                    shutil.rmtree(os.path.join(self.deployments, entry), ignore_errors=True)
                    removed.append(entry)
        now = time.time()
        if os.path.isdir(self.incoming):
            for entry in os.listdir(self.incoming):
                path = os.path.join(self.incoming, entry)
                try:
                    status = os.lstat(path)
                except OSError:
                    continue
                if now - status.st_mtime > stale_after_s and not stat.S_ISDIR(status.st_mode):
                    try:
                        os.unlink(path)
                        removed.append(entry)
                    except OSError:
                        pass
        return removed

    @contextmanager
    def locked(self, timeout_s, on_wait=None):
        """Hold the root's lock so only one benchmark or install runs at a time."""
        self.ensure()
        handle = open(self.lock_path, "a+")
        try:
            deadline = time.monotonic() + timeout_s
            told = False
            while True:
                try:
                    fcntl.flock(handle, fcntl.LOCK_EX | fcntl.LOCK_NB)
                    break
                except OSError as exc:
                    if exc.errno not in (errno.EAGAIN, errno.EACCES):
                        raise
                if not told and on_wait is not None:
                    handle.seek(0)
                    on_wait(handle.read().strip() or "another run")
                    told = True
                if time.monotonic() >= deadline:
                    raise RemoteError("device is busy: another edgeshrink run holds %s for over %ds"
                                      % (self.lock_path, timeout_s))
                time.sleep(0.2)
            handle.seek(0)
            handle.truncate()
            handle.write("pid %d since %s" % (os.getpid(), time.strftime("%Y-%m-%d %H:%M:%S")))
            handle.flush()
            self.remove_leftovers()
            yield
        finally:
            handle.close()


def _require_regular(path, name, identity=None):
    """The upload must be a regular file (no symlink, FIFO or directory), and the very file
    that was hashed; anything else is removed and refused."""
    try:
        status = os.lstat(path)
    except OSError:
        raise TransferError("upload %s vanished before it was committed" % name)
    same = identity is None or (status.st_ino, status.st_dev) == (identity.st_ino, identity.st_dev)
    if not stat.S_ISREG(status.st_mode) or not same:
        try:
            if not stat.S_ISDIR(status.st_mode):
                os.unlink(path)
        except OSError:
            pass
        raise TransferError("upload %s is not a regular file that was uploaded (a symlink or a replaced file); "
                            "refused" % name)
