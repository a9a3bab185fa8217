"""A board in a labgrid farm: the place is leased for the connection's lifetime and the
board is then reached over SSH like any other (host key verified, the same agent).

devices.toml names the place (``labgrid_place``) or the tags any suitable place has
(``labgrid_tags``) instead of a host; the address, port and user come from the place's
NetworkService resource, the key and known_hosts from devices.toml as usual.
"""

import dataclasses

from ...shared.conventions import UPLOAD_SUFFIX
from ...shared.errors import ConnectError
from .base import Connector
from .labgrid_lease import PlaceLease, coordinator_for
from .ssh import SshConnector


class LabgridConnector(Connector):
    def __init__(self, device, accept_new_host_key=False):
        super().__init__(device)
        self.accept_new_host_key = accept_new_host_key
        self.lease = None
        self.ssh = None

    def filters(self):
        if self.device.labgrid_place:
            return {"name": self.device.labgrid_place}
        return dict(self.device.labgrid_tags)

    def open(self):
        coordinator = coordinator_for(self.device)
        if not coordinator:
            raise ConnectError("device '%s' is a labgrid place but no coordinator is named" % self.device.name,
                               "set labgrid_coordinator = \"HOST:PORT\" in devices.toml, or $LG_COORDINATOR")
        self.lease = PlaceLease(self.device.name, coordinator, self.filters(), self.device.labgrid_wait_s)
        address = self.lease.take()
        try:
            board = dataclasses.replace(self.device, host=address.address, port=address.port,
                                        user=self.device.user or address.username)
            self.ssh = SshConnector(board, accept_new_host_key=self.accept_new_host_key)
            self.ssh.open()
        except BaseException:
            self.ssh = None
            self.lease.give_back()
            raise

    def close(self):
        try:
            if self.ssh is not None:
                self.ssh.close()
        finally:
            self.ssh = None
            if self.lease is not None:
                self.lease.give_back()

    @property
    def root(self):
        return self.ssh.root

    @property
    def python(self):
        return self.ssh.python

    def describe(self):
        place = self.lease.place if self.lease and self.lease.place else (self.device.labgrid_place or "a place")
        return "labgrid %s, %s" % (place, self.ssh.describe() if self.ssh else "not connected")

    def run(self, args, timeout_s=60):
        return self.ssh.run(args, timeout_s)

    def exists(self, relative_path):
        return self.ssh.exists(relative_path)

    def upload(self, local_path, relative_path, temporary_suffix=UPLOAD_SUFFIX):
        return self.ssh.upload(local_path, relative_path, temporary_suffix)

    def start_agent(self, relative_zipapp):
        return self.ssh.start_agent(relative_zipapp)
