"""Connectors by the ``connection`` name devices.toml gives them."""

from ...shared.errors import InventoryError


def for_device(device, accept_new_host_key=False):
    if device.connection == "local":
        from .local import LocalConnector

        return LocalConnector(device)
    if device.connection == "ssh" and (device.labgrid_place or device.labgrid_tags):
        from .labgrid import LabgridConnector

        return LabgridConnector(device, accept_new_host_key=accept_new_host_key)
    if device.connection == "ssh":
        from .ssh import SshConnector

        return SshConnector(device, accept_new_host_key=accept_new_host_key)
    raise InventoryError("device '%s': unknown connection '%s'" % (device.name, device.connection))
