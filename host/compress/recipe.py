"""Recipes: TOML files naming variants as ordered chains of steps with typed options.

    [[variant]]
    name = "prune50-kd-int8"
    steps = [
      { step = "prune", ratio = 0.5, criterion = "l1" },
      { step = "distill", epochs = 3 },
      { step = "int8-static", calibration = "entropy" },
    ]

The fp32 baseline is always added (every ratio and accuracy drop is against it);
``defaults = true`` at the top adds the default grid too. Errors name the file, the
variant and the step.
"""

import sys
from pathlib import Path

if sys.version_info >= (3, 11):
    import tomllib
else:  # pragma: no cover
    import tomli as tomllib

from ...shared.conventions import USER_NAME
from ...shared.errors import EdgeshrinkError, UsageError
from .variants import VariantSpec, default_specs


def _document(path):
    path = Path(path)
    if not path.is_file():
        raise UsageError("recipe not found: %s" % path)
    try:
        return path, tomllib.loads(path.read_text())
    except (tomllib.TOMLDecodeError, UnicodeDecodeError) as exc:
        raise UsageError("%s: not valid TOML: %s" % (path, exc))


def load_metrics(path):
    """The recipe's ``[metrics]`` table: output name -> metric text, as ``--metric`` takes
    after its ``=`` (host/metrics.py)."""
    from .. import metrics

    path, document = _document(path)
    table = document.get("metrics", {})
    if not isinstance(table, dict) or not all(isinstance(v, str) for v in table.values()):
        raise UsageError("%s: [metrics] maps output names to metric text, e.g. logits = \"sequence,blank=0\""
                         % path)
    try:
        return metrics.parse(["%s=%s" % item for item in table.items()], chosen_by="recipe %s" % path.name)
    except UsageError as exc:
        raise UsageError("%s: [metrics]: %s" % (path, exc.message), exc.hint) from None


def load(path, reduce_range=False):
    path, document = _document(path)
    unknown = sorted(set(document) - {"variant", "defaults", "metrics"})
    if unknown:
        raise UsageError("%s: unknown top-level key(s) %s (expected [[variant]] tables, [metrics] and `defaults`)"
                         % (path, ", ".join(unknown)))
    if not isinstance(document.get("defaults", False), bool):
        raise UsageError("%s: defaults must be true or false, got %r" % (path, document["defaults"]))
    tables = document.get("variant", [])
    if not isinstance(tables, list) or not all(isinstance(t, dict) for t in tables):
        raise UsageError("%s: variants are [[variant]] tables, each with name and steps" % path)
    specs = default_specs(reduce_range) if document.get("defaults") else [VariantSpec.build("fp32", "fp32")]
    for index, table in enumerate(tables):
        name = table.get("name", "variant-%d" % (index + 1))
        # It becomes a deployment directory on the board, where the agent checks it the same way.
        if not isinstance(name, str) or not USER_NAME.match(name):
            raise UsageError("%s: variant name %r: use letters, digits, '.', '_' and '-' (at most 64, "
                             "starting with a letter or digit)" % (path, name))
        extra = sorted(set(table) - {"name", "steps"})
        if extra:
            raise UsageError("%s: variant '%s': unknown key(s) %s (expected name, steps)"
                             % (path, name, ", ".join(extra)))
        steps = table.get("steps")
        if not isinstance(steps, list) or not all(isinstance(s, dict) for s in steps):
            raise UsageError("%s: variant '%s': steps must be a list of tables like { step = \"prune\" }"
                             % (path, name))
        try:
            spec = VariantSpec.chain(name, steps)
        except EdgeshrinkError as exc:
            prefix = "variant '%s': " % name
            message = exc.message if exc.message.startswith(prefix) else prefix + exc.message
            raise UsageError("%s: %s" % (path, message))
        if any(s.name == name for s in specs):
            raise UsageError("%s: variant name '%s' is used twice" % (path, name))
        specs.append(spec)
    if len(specs) == 1:
        raise UsageError("%s: no [[variant]] tables" % path)
    return specs
