"""The host controller: inventory, connectors, compression, selection, deploy, CLI."""

__version__ = "0.1.0"
