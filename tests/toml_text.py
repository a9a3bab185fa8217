"""Python values as TOML text, for the fuzz tests that write devices.toml and recipes."""

import json


def toml_value(value):
    """A TOML literal for a bool, number (inf and nan too), string or list of them."""
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, float):
        return {float("inf"): "inf", float("-inf"): "-inf"}.get(value, "nan" if value != value else repr(value))
    if isinstance(value, str):
        return json.dumps(value)   # a TOML basic string: the same quotes and \uXXXX escapes
    if isinstance(value, list):
        return "[%s]" % ", ".join(toml_value(v) for v in value)
    return str(value)
