"""Where and as whom to connect: devices.toml fields merged with ~/.ssh/config.

devices.toml wins where both say something; ~/.ssh/config fills the rest (HostName,
User, Port, IdentityFile, ProxyJump, UserKnownHostsFile), exactly as `ssh NAME` would.
"""

import getpass
import os
from dataclasses import dataclass, field
from typing import List

from ...shared.errors import InventoryError

DEFAULT_CONFIG = "~/.ssh/config"
DEFAULT_KNOWN_HOSTS = "~/.ssh/known_hosts"


@dataclass
class SshTarget:
    alias: str
    hostname: str
    port: int = 22
    user: str = ""
    identity_files: List[str] = field(default_factory=list)
    known_hosts: str = os.path.expanduser(DEFAULT_KNOWN_HOSTS)
    jumps: List["SshTarget"] = field(default_factory=list)

    def describe(self):
        return "%s@%s:%d" % (self.user, self.hostname, self.port)

    @property
    def key_name(self):
        """How known_hosts names this server (OpenSSH's form for non-default ports)."""
        return self.hostname if self.port == 22 else "[%s]:%d" % (self.hostname, self.port)


def _load_config(path):
    import paramiko

    path = os.path.expanduser(path)
    if not os.path.isfile(path):
        return paramiko.SSHConfig()
    try:
        return paramiko.SSHConfig.from_path(path)
    except Exception as exc:  # paramiko raises several types for a malformed file
        raise InventoryError("%s: cannot parse SSH config: %s" % (path, exc))


def _parse_hop(text):
    """``[user@]host[:port]`` as ProxyJump writes it."""
    user, _, rest = text.rpartition("@")
    host, _, port = rest.partition(":")
    return user or None, host, int(port) if port else None


def resolve(device_name, host, user=None, port=None, identity_file=None, known_hosts=None,
            ssh_config=None, proxy_jump=None, fallback_identity=None, _depth=0):
    if _depth > 5:
        raise InventoryError("device '%s': ProxyJump chain is longer than 5 hops" % device_name)
    config = _load_config(ssh_config or os.environ.get("EDGESHRINK_SSH_CONFIG") or DEFAULT_CONFIG)
    entry = config.lookup(host)
    identity_files = [identity_file] if identity_file else list(entry.get("identityfile", []))
    if not identity_files and fallback_identity:
        identity_files = [fallback_identity]  # like `ssh -i KEY -J hop`: the key serves the hops too
    known = known_hosts or (entry.get("userknownhostsfile") or DEFAULT_KNOWN_HOSTS).split()[0]
    target = SshTarget(
        alias=host,
        hostname=entry.get("hostname", host),
        port=int(port or entry.get("port", 22)),
        user=user or entry.get("user") or getpass.getuser(),
        identity_files=[os.path.expanduser(p) for p in identity_files],
        known_hosts=os.path.expanduser(known),
    )
    jump_spec = proxy_jump or entry.get("proxyjump")
    if jump_spec and jump_spec.lower() != "none":
        for hop in jump_spec.split(","):
            hop_user, hop_host, hop_port = _parse_hop(hop.strip())
            target.jumps.append(resolve(device_name, hop_host, hop_user, hop_port, None, known_hosts,
                                        ssh_config, "none", identity_file or fallback_identity, _depth + 1))
    return target


def for_device(device):
    return resolve(device.name, device.host, device.user, device.port, device.identity_file,
                   device.known_hosts, device.ssh_config, device.proxy_jump)
