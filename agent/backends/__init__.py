"""Runtimes as backends in an explicit registry, imported lazily.

A board without a runtime is a fact to report (``probe_all``), not an import error:
nothing here imports a runtime until a backend is probed or loaded.
"""

from ...shared.errors import RemoteError

_REGISTRY = {}


def register(name, factory):
    """Add a backend factory; a second registration under one name is a bug."""
    if name in _REGISTRY:
        raise ValueError("backend %r is already registered" % name)
    _REGISTRY[name] = factory


def names():
    return sorted(_REGISTRY)


def get(name):
    try:
        return _REGISTRY[name]()
    except KeyError:
        raise RemoteError("unknown runtime %r; this agent knows: %s" % (name, ", ".join(names())))


def probe_all():
    """For each known runtime: available or not, its version, and why not."""
    return {name: _REGISTRY[name]().probe() for name in names()}


def _register_builtins():
    from .onnxruntime_backend import OnnxRuntimeBackend
    from .tflite_backend import TfliteBackend

    register(OnnxRuntimeBackend.name, OnnxRuntimeBackend)
    register(TfliteBackend.name, TfliteBackend)


_register_builtins()
