"""``--input-shape``: concrete shapes for inputs a model leaves dynamic.

Forms (the option repeats):

    --input-shape 1,3,224,224              the only input (or a --torch model's input)
    --input-shape image=1,3,480,640        the input named ``image``
    --input-shape state=2,1,64 --input-shape sr=1

Dimension 0 of an input is its sample axis when it is dynamic: synthetic data stacks
samples there. Any other dynamic dimension needs a shape (or a data file): it is an
error naming the input and the dimension, never a silent 1.
"""

import re
from dataclasses import dataclass, field, replace
from typing import Dict, List, Optional, Tuple

from ..shared.errors import ModelError, UsageError

_NAME = re.compile(r"^[^=,\s][^=,]*$")
FORM = "--input-shape NAME=d1,d2,... (or d1,d2,... for a model with one input), e.g. image=1,3,224,224"


@dataclass(frozen=True)
class InputShapes:
    named: Dict[str, Tuple[int, ...]] = field(default_factory=dict)
    unnamed: Optional[Tuple[int, ...]] = None

    def __bool__(self):
        return bool(self.named) or self.unnamed is not None


def _dims(text, option):
    parts = text.split(",")
    try:
        dims = tuple(int(p.strip()) for p in parts)
    except ValueError:
        raise UsageError("%r: dimensions must be whole numbers" % option, FORM) from None
    if not dims or any(d < 1 for d in dims):
        raise UsageError("%r: every dimension must be >= 1" % option, FORM)
    return dims


def parse(values):
    """The shapes a list of ``--input-shape`` values gives, or one UsageError."""
    named, unnamed = {}, None
    for option in values or ():
        if not isinstance(option, str) or not option.strip():
            raise UsageError("--input-shape needs a value", FORM)
        name, sep, dims = option.partition("=")
        if not sep:
            if unnamed is not None:
                raise UsageError("--input-shape without a name may be given once; name the inputs", FORM)
            unnamed = _dims(option, option)
            continue
        name = name.strip()
        if not _NAME.match(name):
            raise UsageError("%r: the input name before '=' is empty or malformed" % option, FORM)
        if name in named:
            raise UsageError("--input-shape gives input '%s' twice" % name, FORM)
        named[name] = _dims(dims, option)
    if unnamed is not None and named:
        raise UsageError("--input-shape: give every shape with its input name, or one shape alone", FORM)
    return InputShapes(named, unnamed)


def _applied(spec, dims, given):
    if len(dims) != len(spec.shape):
        raise UsageError("--input-shape %s: input '%s' has %d dimensions %s, the shape gives %d"
                         % (given, spec.name, len(spec.shape), spec.shape, len(dims)), FORM)
    for axis, (fixed, wanted) in enumerate(zip(spec.shape, dims)):
        if isinstance(fixed, int) and fixed > 0 and fixed != wanted:
            raise UsageError("--input-shape %s: dimension %d of input '%s' is fixed at %d in the model"
                             % (given, axis, spec.name, fixed), FORM)
    return replace(spec, shape=list(dims))


def resolve(specs, shapes, have_data):
    """The model's input specs with the given shapes applied.

    Without data, a dynamic dimension past the sample axis that no shape fixes is an
    error naming the input, so nothing runs at a silently invented size.
    """
    names = [s.name for s in specs]
    unknown = sorted(set(shapes.named) - set(names))
    if unknown:
        raise UsageError("--input-shape names %s, which the model does not have (its inputs: %s)"
                         % (", ".join(unknown), ", ".join(names)), FORM)
    if shapes.unnamed is not None and len(specs) != 1:
        raise UsageError("the model has %d inputs (%s): name each shape" % (len(specs), ", ".join(names)), FORM)
    resolved: List = []
    for spec in specs:
        dims = shapes.unnamed if shapes.unnamed is not None else shapes.named.get(spec.name)
        given = ("%s=%s" % (spec.name, ",".join(map(str, dims)))) if dims else None
        resolved.append(_applied(spec, dims, given) if dims else spec)
    if not have_data:
        for spec in resolved:
            for axis, dim in enumerate(spec.shape):
                if axis > 0 and not (isinstance(dim, int) and dim > 0):
                    raise ModelError("input '%s' has dynamic dimension %d (%r) and no data or shape to fix it"
                                     % (spec.name, axis, dim),
                                     "pass --input-shape %s=%s or --data file.npz"
                                     % (spec.name, ",".join(str(d) if isinstance(d, int) and d > 0 else "N"
                                                            for d in spec.shape)))
    return resolved
