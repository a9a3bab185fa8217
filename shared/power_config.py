"""``[devices.NAME.power]``: where a device's power comes from.

    source  one of SOURCES: read that family of the board's sensors only
    rail    that rail only (a label such as "VDD_IN", "psys", "package-0")
    command an external meter: argv list whose lines are readings (shared/meter.py)
    unit    what the meter prints: "W" (watts, default) or "J" (cumulative joules)
    where   "board" (default: the agent runs the command) or "host" (edgeshrink does)

With none of them the agent discovers the board's own source. The same record
crosses the wire to the agent, which checks it again: a frame is never trusted.
"""

from dataclasses import asdict, dataclass, field
from typing import List, Optional

from .meter import UNITS

SOURCES = ("rapl", "hwmon", "ina3221", "ina3221x", "pi5-pmic")
WHERE = ("board", "host")
MAX_ARGS = 64
MAX_TEXT = 4096


@dataclass
class PowerConfig:
    source: Optional[str] = None
    rail: Optional[str] = None
    command: List[str] = field(default_factory=list)
    unit: str = "W"
    where: str = "board"

    def problems(self):
        """(key, problem) pairs; empty when the table is usable."""
        found = []
        if self.source is not None and self.source not in SOURCES:
            found.append(("source", "must be one of %s, got %r" % (", ".join(SOURCES), self.source)))
        if self.rail is not None and not _clean_text(self.rail):
            found.append(("rail", "must be a rail label without control characters"))
        if not 0 <= len(self.command) <= MAX_ARGS or not all(_clean_text(a) for a in self.command):
            found.append(("command", "must be a list of at most %d non-empty strings without control characters"
                          % MAX_ARGS))
        if self.unit not in UNITS:
            found.append(("unit", "must be one of %s (watts, or cumulative joules), got %r"
                          % (", ".join(UNITS), self.unit)))
        if self.where not in WHERE:
            found.append(("where", "must be one of %s, got %r" % (", ".join(WHERE), self.where)))
        if self.where == "host" and not self.command:
            found.append(("where", "\"host\" needs a meter command (command = [...]) run on the host"))
        if self.command and (self.source is not None or self.rail is not None):
            found.append(("command", "a meter command replaces the board's sources: drop source and rail"))
        return found

    def to_dict(self):
        return asdict(self)

    @classmethod
    def from_wire(cls, data):
        """The config from a frame or a parsed TOML table; ValueError saying what is wrong."""
        if data is None:
            return cls()
        if not isinstance(data, dict):
            raise ValueError("must be a table")
        unknown = sorted(set(data) - set(cls.__dataclass_fields__))
        if unknown:
            raise ValueError("unknown key(s) %s (known: %s)" % (", ".join(map(str, unknown)),
                                                                ", ".join(cls.__dataclass_fields__)))
        types = {"source": str, "rail": str, "command": list, "unit": str, "where": str}
        for key, value in data.items():
            if value is not None and not isinstance(value, types[key]):
                raise ValueError("%s must be a %s" % (key, "list of strings" if types[key] is list else "string"))
        config = cls(**data)
        if config.command is None:
            config.command = []
        problems = config.problems()
        if problems:
            raise ValueError("%s %s" % problems[0])
        return config


def _clean_text(value):
    return isinstance(value, str) and 0 < len(value) <= MAX_TEXT and not any(
        ord(c) < 32 or c == "\x7f" for c in value)
