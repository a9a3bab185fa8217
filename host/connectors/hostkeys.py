"""Host key verification: known keys only, by default.

An unknown key is refused with the command that trusts it; a changed key is always
refused (it means a reinstalled board or someone in the middle, and only the user
can tell which). Keys are stored in OpenSSH's known_hosts format, so `ssh` and
edgeshrink agree about every board.
"""

import base64
import hashlib
import os
import socket

from ...shared.errors import ConnectError


class HostKeyError(ConnectError):
    """The board's host key is unknown or does not match the recorded one."""


def fingerprint(key):
    """OpenSSH's SHA256 fingerprint of a public key."""
    digest = hashlib.sha256(key.asbytes()).digest()
    return "SHA256:" + base64.b64encode(digest).decode("ascii").rstrip("=")


def load(path):
    import paramiko

    keys = paramiko.HostKeys()
    if os.path.isfile(path):
        try:
            keys.load(path)
        except (OSError, paramiko.SSHException) as exc:
            raise ConnectError("cannot read known hosts file %s: %s" % (path, exc))
    return keys


def append(path, name, key):
    folder = os.path.dirname(path)
    if folder and not os.path.isdir(folder):
        os.makedirs(folder, mode=0o700)
    with open(path, "a") as handle:
        handle.write("%s %s %s\n" % (name, key.get_name(), key.get_base64()))


def unknown_key_error(device_name, target, key):
    return HostKeyError(
        "device '%s': host key of %s is not known (%s %s)" % (device_name, target.key_name, key.get_name(),
                                                             fingerprint(key)),
        "check the fingerprint on the board, then run `edgeshrink devices trust %s` "
        "or pass --accept-new-host-key" % device_name)


def changed_key_error(device_name, target, expected, got):
    return HostKeyError(
        "device '%s': host key of %s has CHANGED (known %s, offered %s %s); refusing to connect"
        % (device_name, target.key_name, fingerprint(expected), got.get_name(), fingerprint(got)),
        "if the board was reinstalled, remove the old key with `ssh-keygen -R '%s' -f %s` and trust it again"
        % (target.key_name, target.known_hosts))


def make_policy(device_name, target, accept_new):
    """A paramiko policy for keys missing from known_hosts: refuse, or record and go on."""
    import paramiko

    class Policy(paramiko.MissingHostKeyPolicy):
        def missing_host_key(self, client, hostname, key):
            if not accept_new:
                raise unknown_key_error(device_name, target, key)
            client.get_host_keys().add(hostname, key.get_name(), key)
            append(target.known_hosts, hostname, key)

    return Policy()


def offered_key(target, timeout_s):
    """The host key a server offers, read with a bare transport (no authentication)."""
    import paramiko

    sock = socket.create_connection((target.hostname, target.port), timeout=timeout_s)
    transport = paramiko.Transport(sock)
    try:
        transport.start_client(timeout=timeout_s)
        return transport.get_remote_server_key()
    finally:
        transport.close()


def trust(device_name, target, timeout_s=10.0):
    """Record the board's current key in known_hosts, unless a different one is there.

    Returns (status, key type, fingerprint) with status 'added' or 'already trusted'.
    """
    import paramiko

    try:
        key = offered_key(target, timeout_s)
    except (OSError, paramiko.SSHException) as exc:
        raise ConnectError("device '%s': cannot reach %s to read its host key: %s"
                           % (device_name, target.key_name, exc))
    known = load(target.known_hosts).lookup(target.key_name) or {}
    if key.get_name() in known:
        if known[key.get_name()] == key:
            return "already trusted", key.get_name(), fingerprint(key)
        raise changed_key_error(device_name, target, known[key.get_name()], key)
    if known:
        # A key of another type is recorded: treat as changed, like OpenSSH does.
        expected = next(iter(known.values()))
        raise changed_key_error(device_name, target, expected, key)
    append(target.known_hosts, target.key_name, key)
    return "added", key.get_name(), fingerprint(key)
