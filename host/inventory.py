"""devices.toml: which boards exist, how to reach them, and what they must satisfy.

Every validation error names the file, the device and the key, so a user can fix
it without reading code. The schema is documented in README.md.
"""

import os
import re
import sys
from dataclasses import dataclass, field, fields
from pathlib import Path
from typing import Dict, List, Optional

if sys.version_info >= (3, 11):
    import tomllib
else:  # pragma: no cover - the host supports 3.10 through tomli
    import tomli as tomllib

from ..shared.conventions import USER_NAME
from ..shared.decision import OBJECTIVES
from ..shared.errors import InventoryError
from ..shared.power_config import PowerConfig
from ..shared.types import PERCENTILES, BenchSettings, Constraints, accepts

CONNECTIONS = ("local", "ssh")
RUNTIMES = ("onnxruntime", "tflite")
LOCAL_DEVICE = "local"


@dataclass
class Device:
    name: str
    connection: str = "local"
    host: Optional[str] = None
    user: Optional[str] = None
    port: Optional[int] = None
    identity_file: Optional[str] = None
    known_hosts: Optional[str] = None   # default: ~/.ssh/config's UserKnownHostsFile, then ~/.ssh/known_hosts
    ssh_config: Optional[str] = None    # default: $EDGESHRINK_SSH_CONFIG, then ~/.ssh/config
    proxy_jump: Optional[str] = None    # [user@]host[:port][,...], as ssh -J
    connect_timeout_s: float = 10.0
    retries: int = 3                    # connection attempts for transient failures
    root: Optional[str] = None          # the agent's root on the board
    python: Optional[str] = None        # interpreter that runs the agent there
    # The runtimes to measure with, each a dimension of the search (devices.toml
    # ``runtime``: one name or a list); the first is the default for one-runtime work.
    runtimes: List[str] = field(default_factory=lambda: ["onnxruntime"])
    threads: int = 1
    cpu_affinity: Optional[List[int]] = None
    tags: List[str] = field(default_factory=list)
    constraints: Constraints = field(default_factory=Constraints)
    bench: Dict[str, object] = field(default_factory=dict)
    power: PowerConfig = field(default_factory=PowerConfig)
    objective: str = "latency"           # what "best" means: latency, energy or size
    # `regress`: the smallest change flagged per figure (fractions) and the baseline
    # window in nights; see _regress.
    regress: Dict[str, float] = field(default_factory=dict)
    # A board in a labgrid farm instead of a host: the place by name, or any place with
    # these tags; the coordinator (host:port, default $LG_COORDINATOR); how long to wait
    # for the reservation before giving up.
    labgrid_place: Optional[str] = None
    labgrid_tags: Dict[str, str] = field(default_factory=dict)
    labgrid_coordinator: Optional[str] = None
    labgrid_wait_s: float = 600.0

    @property
    def runtime(self):
        """The device's first runtime: the one single-runtime commands (sustained) use."""
        return self.runtimes[0]

    def bench_settings(self, **overrides):
        values = dict(self.bench)
        values.update({k: v for k, v in overrides.items() if v is not None})
        values.setdefault("threads", self.threads)
        values.setdefault("cpu_affinity", self.cpu_affinity)
        return BenchSettings.from_dict(values)


# key -> (accepted types, description used in error messages)
_DEVICE_KEYS = {
    "connection": (str, "one of " + ", ".join(CONNECTIONS)),
    "host": (str, "a host name or address"),
    "user": (str, "a user name"),
    "port": (int, "a port number"),
    "identity_file": (str, "a path to a private key"),
    "known_hosts": (str, "a path to a known_hosts file"),
    "ssh_config": (str, "a path to an SSH config file"),
    "proxy_jump": (str, "[user@]host[:port], comma-separated for several hops"),
    "connect_timeout_s": (float, "a number of seconds > 0"),
    "retries": (int, "an integer >= 1"),
    "root": (str, "a directory path on the device"),
    "python": (str, "a Python interpreter path or name"),
    "runtime": ((str, list), "a runtime name or a list of them (%s)" % ", ".join(RUNTIMES)),
    "threads": (int, "an integer >= 1"),
    "cpu_affinity": (list, "a list of CPU numbers"),
    "tags": (list, "a list of strings"),
    "constraints": (dict, "a table"),
    "bench": (dict, "a table"),
    "power": (dict, "a table"),
    "objective": (str, "one of " + ", ".join(OBJECTIVES)),
    "regress": (dict, "a table"),
    "labgrid_place": (str, "a labgrid place name"),
    "labgrid_tags": (dict, "a table of labgrid tags (board = \"pi4\")"),
    "labgrid_coordinator": (str, "the labgrid coordinator as host:port"),
    "labgrid_wait_s": (float, "a number of seconds > 0"),
}
# [devices.X.regress]: figure floors are fractions (0.05 = 5%), window a count of nights,
# seconds and rounds how long a nightly check times each variant, confirm_pause_s the
# wait before a flagged variant is measured again (regress/job.py).
REGRESS_FLOORS = ("latency", "memory", "accuracy", "energy")
MAX_REGRESS_WINDOW = 365
MAX_REGRESS_SECONDS = 600
MAX_REGRESS_ROUNDS = 20
# Constraint keys with their declared types; `extra` is for code, not for devices.toml.
_CONSTRAINT_TYPES = {f.name: f.type for f in fields(Constraints) if f.name != "extra"}
_BENCH_KEYS = {f.name for f in fields(BenchSettings)} - {"threads", "cpu_affinity"}


class _Where:
    def __init__(self, path, device):
        self.path, self.device = path, device

    def fail(self, key, problem, hint=None):
        raise InventoryError("%s: device '%s': key '%s' %s" % (self.path, self.device, key, problem),
                             hint)


def _is_type(value, kind):
    # NaN and infinity are never a setting: a limit of inf checks nothing.
    return accepts(kind, value)


# Sane ranges: beyond them a setting is a typo, and 1000 retries would back off for ever.
MAX_RETRIES = 20
MAX_CONNECT_TIMEOUT_S = 600
MAX_THREADS = 1024



_HOST = re.compile(r"^[A-Za-z0-9._:%-]{1,253}$")            # names, IPv4, IPv6 (no brackets)
_USER = re.compile(r"^[A-Za-z0-9._][A-Za-z0-9._-]{0,63}$")
_HOP = re.compile(r"^(?:[A-Za-z0-9._][A-Za-z0-9._-]{0,63}@)?(?:[A-Za-z0-9._%-]{1,253}|\[[0-9A-Fa-f:.%]+\])"
                  r"(?::[0-9]{1,5})?$")
_MAX_TEXT = 4096


_LABGRID_TAG = re.compile(r"^[a-z][a-z0-9_]+$")   # what labgrid accepts as a tag name
_LABGRID_PLACE = re.compile(r"^[A-Za-z0-9][A-Za-z0-9._-]{0,127}$")
MAX_LABGRID_WAIT_S = 86400


def _is_labgrid(values):
    return bool(values.get("labgrid_place") or values.get("labgrid_tags"))


def _labgrid(where, values):
    """The labgrid keys, checked: a place or tags (not both), on an ssh device with no host."""
    if not any(key.startswith("labgrid_") for key in values):
        return
    if values.get("connection") != "ssh":
        where.fail("connection", "must be \"ssh\" for a labgrid place (the board is reached over SSH)")
    if not _is_labgrid(values):
        where.fail("labgrid_place", "is needed (or labgrid_tags) when other labgrid keys are given")
    if values.get("labgrid_place") and values.get("labgrid_tags"):
        where.fail("labgrid_tags", "and labgrid_place both name the place: give one")
    if values.get("host"):
        where.fail("host", "comes from the labgrid place's NetworkService: remove host, or the labgrid keys")
    if "labgrid_place" in values and not _LABGRID_PLACE.match(values["labgrid_place"]):
        where.fail("labgrid_place", "must be a place name (letters, digits, '.', '_', '-'), got %r"
                   % values["labgrid_place"])
    for tag, value in values.get("labgrid_tags", {}).items():
        if not _LABGRID_TAG.match(tag) or not isinstance(value, str) or _text_problem("labgrid_tags", value):
            where.fail("labgrid_tags", "must map tag names ([a-z][a-z0-9_]+) to strings, got %r = %r" % (tag, value))
    if "labgrid_coordinator" in values and not _HOP.match(values["labgrid_coordinator"]):
        where.fail("labgrid_coordinator", "must be host:port, got %r" % values["labgrid_coordinator"])
    if not 0 < values.get("labgrid_wait_s", 1) <= MAX_LABGRID_WAIT_S:
        where.fail("labgrid_wait_s", "must be a number of seconds > 0 and <= %d" % MAX_LABGRID_WAIT_S)


def _text_problem(key, value):
    """Why a string setting is unusable (control characters, absurd length, shape)."""
    if len(value) > _MAX_TEXT or any(ord(c) < 32 or c == "\x7f" for c in value):
        return "must be at most %d characters without control characters" % _MAX_TEXT
    if key == "host" and not _HOST.match(value):
        return "must be a host name or an address, got %r" % value
    if key == "user" and not _USER.match(value):
        return "must be a user name (letters, digits, '.', '_', '-'), got %r" % value
    if key == "proxy_jump" and not all(_HOP.match(hop.strip()) for hop in value.split(",")):
        return "must be [user@]host[:port], comma-separated for several hops, got %r" % value
    return None


def _file_problem(key, value):
    """A host-side file the device names must be a readable file (known_hosts may not exist
    yet: it is created when a key is first accepted)."""
    path = Path(os.path.expanduser(value))
    if not path.exists():
        return None if key == "known_hosts" else "names %s, which does not exist" % path
    if not path.is_file():
        return "names %s, which is not a file" % path
    if not os.access(str(path), os.R_OK):
        return "names %s, which cannot be read" % path
    return None


def _root_problem(root, connection):
    """Why ``root`` cannot be the agent's root, or None. On a board the root lives under the
    login user's home: a relative root means ``~/<root>``; ``..`` never climbs out of it."""
    if not root or any(ord(c) < 32 or c == "\x7f" for c in root):
        return "must be a non-empty path without control characters"
    parts = root.split("/")
    if ".." in parts:
        return "must not contain '..' (got %r)" % root
    if root.startswith("~") and not (root == "~" or root.startswith("~/")):
        return "may start with '~/' (the login user's home), not another user's home (got %r)" % root
    if connection == "local" and not root.startswith(("/", "~")):
        return "must be an absolute path or start with '~/' on the local device (got %r)" % root
    return None


def _resolved_root(root, connection):
    """An ssh root not absolute and not under ~ is under the login user's home."""
    if connection == "ssh" and not root.startswith(("/", "~")):
        return "~/" + root.lstrip("./")
    return root


def _constraint_problem(key, value):
    """Why ``value`` cannot be constraint ``key``, judged by the Constraints field's type."""
    kind = _CONSTRAINT_TYPES[key]
    if key == "latency_percentile":
        return None if value in PERCENTILES else "must be one of " + ", ".join(PERCENTILES)
    if kind is bool:
        return None if isinstance(value, bool) else "must be true or false, got %r" % (value,)
    if kind == List[str]:
        return None if isinstance(value, list) and all(isinstance(v, str) for v in value) \
            else "must be a list of strings, got %r" % (value,)
    if kind == Optional[float]:
        return None if _is_type(value, float) and value >= 0 \
            else "must be a non-negative number, got %r" % (value,)
    return "cannot be set in devices.toml"


def _constraints(where, table):
    for key, value in table.items():
        if key not in _CONSTRAINT_TYPES:
            where.fail("constraints." + key, "is not a known constraint",
                       "known: " + ", ".join(sorted(_CONSTRAINT_TYPES)))
        problem = _constraint_problem(key, value)
        if problem:
            where.fail("constraints." + key, problem)
    for key in ("min_accuracy", "max_accuracy_drop"):
        if key in table and table[key] > 1:
            where.fail("constraints." + key, "is a fraction between 0 and 1 (0.01 = one point)")
    return Constraints(**table)


def _bench(where, table):
    for key, value in table.items():
        if key not in _BENCH_KEYS:
            where.fail("bench." + key, "is not a benchmark setting",
                       "known: " + ", ".join(sorted(_BENCH_KEYS)))
        problem = BenchSettings.type_problem(key, value)
        if problem:
            where.fail("bench." + key, problem)
    problems = BenchSettings.from_dict(table).validate()
    if problems:
        where.fail("bench", "is inconsistent: " + "; ".join(problems))
    return dict(table)


def _power(where, table):
    known = set(PowerConfig.__dataclass_fields__)
    for key, value in table.items():
        if key not in known:
            where.fail("power." + key, "is not a power setting", "known: " + ", ".join(sorted(known)))
        kind = list if key == "command" else str
        if not isinstance(value, kind) or (kind is list and not all(isinstance(a, str) for a in value)):
            where.fail("power." + key, "must be %s, got %r" % ("a list of strings" if kind is list else "a string",
                                                              value))
    config = PowerConfig(**table)
    for key, problem in config.problems():
        where.fail("power." + key, problem)
    return config


def _runtimes(where, value):
    """devices.toml ``runtime``: one known name or a non-empty list of them, each once."""
    names = [value] if isinstance(value, str) else value
    if not names or not all(isinstance(n, str) and n in RUNTIMES for n in names) or len(set(names)) != len(names):
        where.fail("runtime", "must be one of %s or a list of them, each once; got %r" % (", ".join(RUNTIMES), value))
    return list(names)


def _regress(where, table):
    for key, value in table.items():
        if key == "window":
            if not _is_type(value, int) or not 1 <= value <= MAX_REGRESS_WINDOW:
                where.fail("regress.window", "must be a number of nights from 1 to %d, got %r"
                           % (MAX_REGRESS_WINDOW, value))
        elif key == "seconds":
            if not _is_type(value, float) or not 0 < value <= MAX_REGRESS_SECONDS:
                where.fail("regress.seconds", "must be the seconds of timing per variant, above 0 and at most "
                           "%d, got %r" % (MAX_REGRESS_SECONDS, value))
        elif key == "rounds":
            if not _is_type(value, int) or not 1 <= value <= MAX_REGRESS_ROUNDS:
                where.fail("regress.rounds", "must be a number of rounds from 1 to %d, got %r"
                           % (MAX_REGRESS_ROUNDS, value))
        elif key == "confirm_pause_s":
            if not _is_type(value, float) or not -1 <= value <= MAX_REGRESS_SECONDS:
                where.fail("regress.confirm_pause_s", "must be the seconds to wait before measuring a flagged "
                           "variant again, 0 to %d (-1 turns the second measurement off), got %r"
                           % (MAX_REGRESS_SECONDS, value))
        elif key in REGRESS_FLOORS:
            if not _is_type(value, float) or not 0 < value <= 1:
                where.fail("regress." + key, "must be a fraction above 0 and at most 1 (0.05 = 5%%), got %r"
                           % (value,))
        else:
            where.fail("regress." + key, "is not a regress setting",
                       "known: " + ", ".join(REGRESS_FLOORS + ("window", "seconds", "rounds", "confirm_pause_s")))
    return dict(table)


def _device(path, name, table):
    where = _Where(path, name)
    if not USER_NAME.match(name):   # it becomes a path component (a local root)
        raise InventoryError("%s: device name %r: use letters, digits, '.', '_' and '-' (at most 64, starting "
                             "with a letter or digit)" % (path, name))
    if not isinstance(table, dict):
        raise InventoryError("%s: device '%s' must be a table ([devices.%s])" % (path, name, name))
    values = {}
    for key, value in table.items():
        if key not in _DEVICE_KEYS:
            where.fail(key, "is not a known device key", "known: " + ", ".join(sorted(_DEVICE_KEYS)))
        kind, description = _DEVICE_KEYS[key]
        if not _is_type(value, kind):
            where.fail(key, "must be %s, got %r" % (description, value))
        values[key] = value
    for key, value in values.items():
        if isinstance(value, str):
            problem = _text_problem(key, value)
            if not problem and key in ("identity_file", "known_hosts", "ssh_config"):
                problem = _file_problem(key, value)
            if problem:
                where.fail(key, problem)
    if values.get("connection", "local") not in CONNECTIONS:
        where.fail("connection", "must be one of %s, got %r" % (", ".join(CONNECTIONS), values["connection"]))
    _labgrid(where, values)
    if values.get("connection") == "ssh" and not values.get("host") and not _is_labgrid(values):
        where.fail("host", "is required for an ssh device (or labgrid_place / labgrid_tags)")
    if values.get("threads", 1) < 1:
        where.fail("threads", "must be an integer >= 1")
    if not 1 <= values.get("retries", 1) <= MAX_RETRIES:
        where.fail("retries", "must be an integer from 1 to %d" % MAX_RETRIES)
    if not 0 < values.get("connect_timeout_s", 1) <= MAX_CONNECT_TIMEOUT_S:
        where.fail("connect_timeout_s", "must be a number of seconds > 0 and <= %d" % MAX_CONNECT_TIMEOUT_S)
    if values.get("threads", 1) > MAX_THREADS:
        where.fail("threads", "must be an integer from 1 to %d" % MAX_THREADS)
    if "port" in values and not 0 < values["port"] < 65536:
        where.fail("port", "must be between 1 and 65535")
    for key in ("cpu_affinity",):
        if key in values and not all(_is_type(v, int) and v >= 0 for v in values[key]):
            where.fail(key, "must list non-negative CPU numbers")
    if "tags" in values and not all(isinstance(t, str) for t in values["tags"]):
        where.fail("tags", "must list strings")
    if "root" in values:
        connection = values.get("connection", "local")
        problem = _root_problem(values["root"], connection)
        if problem:
            where.fail("root", problem)
        values["root"] = _resolved_root(values["root"], connection)
    if "runtime" in values:
        values["runtimes"] = _runtimes(where, values.pop("runtime"))
    if values.get("objective", "latency") not in OBJECTIVES:
        where.fail("objective", "must be one of %s, got %r" % (", ".join(OBJECTIVES), values["objective"]))
    values["power"] = _power(where, values.get("power", {}))
    values["constraints"] = _constraints(where, values.get("constraints", {}))
    values["bench"] = _bench(where, values.get("bench", {}))
    values["regress"] = _regress(where, values.get("regress", {}))
    return Device(name=name, **values)


class Inventory:
    def __init__(self, path, devices):
        self.path = path
        self.devices = devices

    def select(self, names=(), tags=()):
        """Devices by name and by tag, in the order given, each once."""
        chosen = [self.get(name) for name in names]
        for tag in tags:
            tagged = [d for _, d in sorted(self.devices.items()) if tag in d.tags]
            if not tagged:
                raise InventoryError("%s: no device has tag '%s'" % (self.path, tag))
            chosen.extend(tagged)
        if not chosen:
            raise InventoryError("no device given", "pass --device NAME (repeatable) or --tag TAG")
        unique = []
        for device in chosen:
            if device not in unique:
                unique.append(device)
        return unique

    def get(self, name):
        if name not in self.devices:
            known = ", ".join(sorted(self.devices)) or "none"
            raise InventoryError("%s: no device named '%s' (known: %s)" % (self.path, name, known),
                                 "add a [devices.%s] table or pick a known device" % name)
        return self.devices[name]


def load(path):
    path = Path(path)
    if not path.is_file():
        raise InventoryError("devices file not found: %s" % path,
                             "create it (see README: devices.toml) or pass --devices PATH")
    try:
        document = tomllib.loads(path.read_text())
    except (tomllib.TOMLDecodeError, UnicodeDecodeError) as exc:
        raise InventoryError("%s: not valid TOML: %s" % (path, exc))
    except RecursionError:
        raise InventoryError("%s: not valid TOML: nested too deeply" % path)
    except OSError as exc:
        raise InventoryError("%s: cannot be read: %s" % (path, exc.strerror or exc))
    unknown = sorted(set(document) - {"devices"})
    if unknown:
        raise InventoryError("%s: unknown top-level key(s) %s; devices go under [devices.NAME]"
                             % (path, ", ".join(unknown)))
    tables = document.get("devices", {})
    if not isinstance(tables, dict):
        raise InventoryError("%s: 'devices' must be a table of [devices.NAME] tables" % path)
    return Inventory(path, {name: _device(path, name, table) for name, table in tables.items()})
