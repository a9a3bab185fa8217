"""Commands that take dataclasses of options, so options shared by commands are declared once.

A command parameter annotated with a dataclass stands, on the command line, for that
dataclass's fields (each field annotated with its ``typer.Option``/``typer.Argument``);
when the command runs, the fields' values are gathered back into one instance. Typer
reads a command's parameters from its signature, so the expanded signature is what it
sees.
"""

import dataclasses
import functools
import inspect
import typing


def _expanded(parameter):
    """The parameters a command parameter stands for: itself, or its dataclass's fields."""
    if not dataclasses.is_dataclass(parameter.annotation):
        return [parameter.replace(kind=inspect.Parameter.KEYWORD_ONLY)]
    hints = typing.get_type_hints(parameter.annotation, include_extras=True)
    return [inspect.Parameter(f.name, inspect.Parameter.KEYWORD_ONLY, default=f.default, annotation=hints[f.name])
            for f in dataclasses.fields(parameter.annotation)]


def expand_option_groups(function):
    """``function`` as Typer should see it: dataclass parameters replaced by their fields."""
    signature = inspect.signature(function)
    groups = {p.name: p.annotation for p in signature.parameters.values() if dataclasses.is_dataclass(p.annotation)}
    if not groups:
        return function
    parameters = [expanded for p in signature.parameters.values() for expanded in _expanded(p)]
    names = [p.name for p in parameters]
    clashes = sorted({name for name in names if names.count(name) > 1})
    if clashes:  # two groups (or a group and the command) would both claim one option
        raise TypeError("%s: option name(s) %s declared twice" % (function.__name__, ", ".join(clashes)))

    @functools.wraps(function)
    def command(**values):
        for name, group in groups.items():
            values[name] = group(**{f.name: values.pop(f.name) for f in dataclasses.fields(group)})
        return function(**values)

    # Keyword-only: Typer passes every value by name, and option order is free then.
    command.__signature__ = signature.replace(parameters=parameters)
    command.__annotations__ = {p.name: p.annotation for p in parameters}
    return command
