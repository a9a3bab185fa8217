"""Typed records that cross a boundary (the wire, the results store, ``--json``).

Records are standard-library dataclasses (Python 3.8). ``to_dict`` gives plain JSON
values; ``from_dict`` builds a record back, recursing into fields typed as records,
``Optional[record]`` and ``List[record]``. Unknown keys are ignored on the way in, so
an older reader accepts a newer writer's extra fields; a missing key takes the
field's default, so a newer reader accepts an older writer's rows.
"""

import typing
from dataclasses import MISSING, asdict, fields, is_dataclass

from .types import accepts

_HINTS = {}


def _hints(cls):
    if cls not in _HINTS:
        _HINTS[cls] = typing.get_type_hints(cls)
    return _HINTS[cls]


def _convert(kind, value):
    if value is None:
        return None
    origin = typing.get_origin(kind)
    if origin is typing.Union:  # Optional[X]
        options = [k for k in typing.get_args(kind) if k is not type(None)]
        return _convert(options[0], value) if len(options) == 1 else value
    if origin in (list, typing.List) and isinstance(value, list):
        (item,) = typing.get_args(kind) or (typing.Any,)
        return [_convert(item, v) for v in value]
    if isinstance(kind, type) and is_dataclass(kind) and isinstance(value, dict):
        return from_dict(kind, value)
    return value


def from_dict(cls, data):
    """A record of type ``cls`` from a dict (``None`` or non-dict data gives the defaults)."""
    data = data if isinstance(data, dict) else {}
    hints = _hints(cls)
    values = {}
    for f in fields(cls):
        if f.name in data:
            values[f.name] = _convert(hints[f.name], data[f.name])
        elif f.default is MISSING and f.default_factory is MISSING:  # type: ignore[misc]
            values[f.name] = None
    return cls(**values)


def to_dict(record):
    return asdict(record)


class Record:
    """Mixin: ``to_dict`` / ``from_dict`` for a dataclass."""

    def to_dict(self):
        return to_dict(self)

    @classmethod
    def from_dict(cls, data):
        return from_dict(cls, data)


_EXPECTED = {float: "a number", int: "an integer", bool: "true or false", str: "text", dict: "an object"}


def _leaf_problem(kind, value):
    if kind not in _EXPECTED or accepts(kind, value):
        return None   # other annotations (object, typing.Any): not checked
    return "expected %s, got %s" % (_EXPECTED[kind], "NaN" if value != value else repr(value))


def type_problems(record, where=""):
    """Fields of a record built from untrusted data whose values do not have their
    declared types (``from_dict`` keeps what it is given); [] when all do."""
    problems = []
    hints = _hints(type(record))
    for f in fields(record):
        value, kind, path = getattr(record, f.name), hints[f.name], where + f.name
        if value is None:
            continue
        origin = typing.get_origin(kind)
        if origin is typing.Union:
            options = [k for k in typing.get_args(kind) if k is not type(None)]
            kind = options[0] if len(options) == 1 else typing.Any
            origin = typing.get_origin(kind)
        if origin in (list, typing.List):
            if not isinstance(value, list):
                problems.append("%s: expected a list, got %r" % (path, value))
                continue
            (item,) = typing.get_args(kind) or (typing.Any,)
            for index, entry in enumerate(value):
                if is_dataclass(entry):
                    problems += type_problems(entry, "%s[%d]." % (path, index))
                elif isinstance(item, type) and is_dataclass(item):
                    problems.append("%s[%d]: expected an object, got %r" % (path, index, entry))
                elif isinstance(item, type):
                    problem = _leaf_problem(item, entry)
                    if problem:
                        problems.append("%s[%d]: %s" % (path, index, problem))
        elif is_dataclass(value):
            problems += type_problems(value, path + ".")
        elif isinstance(kind, type) and is_dataclass(kind):
            problems.append("%s: expected an object, got %r" % (path, value))
        elif isinstance(kind, type):
            problem = _leaf_problem(kind, value)
            if problem:
                problems.append("%s: %s" % (path, problem))
    return problems
