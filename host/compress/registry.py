"""The compression registry: every technique once, under its name.

A technique is a generator with its typed options class. ONNX-level generators are
``(source, target, options, dataset, workdir) -> details or None`` (file to file);
torch-level ones are ``(work, options) -> details or None`` and change a PyTorch
model before it is exported. Details (actual sparsity, nodes kept in float) are
recorded in the variant's lineage.

The modules that define techniques import this one and register themselves; the
registry names them only as strings and imports them on first lookup, so it depends
on none of them and there is no import cycle between the registry and its entries.
"""

import importlib
from dataclasses import dataclass
from typing import Callable

from ...shared.errors import ModelError, UsageError

ONNX = "onnx"
TORCH = "torch"
TFLITE = "tflite"   # file -> file, on a .tflite
LEVELS = (ONNX, TORCH, TFLITE)

# Cheap to import (the TFLite steps import their toolchain when they run): loaded for any lookup.
_ONNX_MODULES = ("techniques", "onnx_steps", "tflite_steps")
# Imports torch and torch-pruning, which costs seconds: loaded only when a name is not
# found among the ONNX techniques or the whole list is asked for, so ONNX-only work
# (`compress model.onnx`) does not pay for it.
_TORCH_MODULES = ("torch_steps",)

_REGISTRY = {}


@dataclass(frozen=True)
class Technique:
    name: str
    options_class: type
    generate: Callable
    summary: str
    level: str = ONNX   # ONNX, TFLITE: file -> file; TORCH: changes a PyTorch model before export


def register(name, options_class, summary, level=ONNX):
    """Decorator registering a generator; a name registered twice is a programming error."""
    if level not in LEVELS:
        raise ValueError("technique %r: level must be one of %r, not %r" % (name, LEVELS, level))

    def wrap(function):
        if name in _REGISTRY:
            raise ValueError("technique %r is already registered" % name)
        _REGISTRY[name] = Technique(name, options_class, function, summary, level)
        return function
    return wrap


def get(name):
    """The technique registered as ``name``; a UsageError listing the known ones otherwise."""
    _load(_ONNX_MODULES)
    if name not in _REGISTRY:
        _load(_TORCH_MODULES)
    try:
        return _REGISTRY[name]
    except KeyError:
        raise UsageError("unknown technique %r; known: %s" % (name, ", ".join(sorted(_REGISTRY))))


def all_techniques():
    """Every technique by name, torch-level ones included."""
    _load(_ONNX_MODULES + _TORCH_MODULES)
    return dict(_REGISTRY)


def generation_failed(what, exc):
    """A third-party failure inside a generator as the one-line ModelError a user sees."""
    first = (str(exc).strip().splitlines() or [type(exc).__name__])[0]
    return ModelError("%s failed: %s" % (what, first[:300]))


def _load(modules):
    for module in modules:
        importlib.import_module("." + module, __package__)
