"""Connectors by the ``connection`` name devices.toml gives them."""

from ...shared.errors import InventoryError


def for_device(device):
    if device.connection == "local":
        from .local import LocalConnector

        return LocalConnector(device)
    raise InventoryError("device '%s': the '%s' connection is not available in this version"
                         % (device.name, device.connection))
