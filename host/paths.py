"""Where the host keeps things. Each has an environment override, for CI and tests.

- cache (variants, demo model, agent zipapps): ``$EDGESHRINK_CACHE`` or
  ``$XDG_CACHE_HOME/edgeshrink`` (default ``~/.cache/edgeshrink``)
- results database: ``$EDGESHRINK_DB`` (a file or a postgresql:// URL) or ``$XDG_DATA_HOME/edgeshrink/results.sqlite``
  (default ``~/.local/share/edgeshrink/results.sqlite``)
- devices file: ``--devices``, ``$EDGESHRINK_DEVICES``, ``./devices.toml``, then
  ``~/.config/edgeshrink/devices.toml``
- local device roots: ``$EDGESHRINK_LOCAL_ROOT`` or ``$XDG_DATA_HOME/edgeshrink/devices``
"""

import os
from pathlib import Path


def _xdg(variable, default):
    value = os.environ.get(variable)
    return Path(value) if value else Path.home() / default


def cache_dir():
    override = os.environ.get("EDGESHRINK_CACHE")
    return Path(override) if override else _xdg("XDG_CACHE_HOME", ".cache") / "edgeshrink"


def data_dir():
    return _xdg("XDG_DATA_HOME", ".local/share") / "edgeshrink"


def results_db():
    """A SQLite file path, or (kept as text) a database URL such as postgresql://..."""
    override = os.environ.get("EDGESHRINK_DB")
    if override and "://" in override:
        return override
    return Path(override) if override else data_dir() / "results.sqlite"


def local_device_roots():
    override = os.environ.get("EDGESHRINK_LOCAL_ROOT")
    return Path(override) if override else data_dir() / "devices"


def devices_file(explicit=None):
    if explicit:
        return Path(explicit)
    override = os.environ.get("EDGESHRINK_DEVICES")
    if override:
        return Path(override)
    here = Path.cwd() / "devices.toml"
    if here.exists():
        return here
    return _xdg("XDG_CONFIG_HOME", ".config") / "edgeshrink" / "devices.toml"
