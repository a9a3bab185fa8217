"""A PyTorch model to compress at the module level: the demo, or a user's factory.

``module:function`` names a function returning an ``nn.Module`` with its trained
weights (the module is imported from the current directory or PYTHONPATH).
"""

import hashlib
import importlib
import sys
from dataclasses import dataclass
from typing import Callable, Optional, Tuple

import numpy as np

from ...shared.errors import ModelError, UsageError


@dataclass
class TorchSource:
    factory: Callable            # () -> nn.Module with the original weights, in eval mode
    input_shape: Tuple[int, ...]  # one sample, batch dimension 1
    input_name: str
    output_name: str
    state_sha: str               # identifies the weights, for cache keys
    train_x: Optional[np.ndarray] = None
    train_y: Optional[np.ndarray] = None
    family: Optional[str] = None  # "mobilenet-demo" enables width multipliers
    family_args: Optional[dict] = None  # the family constructor's arguments for the original

    def fresh(self):
        model = self.factory()
        model.eval()
        return model

    @property
    def has_training_data(self):
        return self.train_x is not None and self.train_y is not None


def state_hash(model):
    digest = hashlib.sha256()
    for name, tensor in sorted(model.state_dict().items()):
        digest.update(name.encode())
        digest.update(tensor.detach().cpu().numpy().tobytes())
    return digest.hexdigest()


# The factories are plain objects rather than closures so that a TorchSource can be sent
# to another process (a --jobs worker, a Ray task) and rebuild the model there.

@dataclass
class WithState:
    """``build(**keywords)`` with ``state`` loaded, in eval mode."""
    build: Callable
    keywords: dict
    state: dict

    def __call__(self):
        model = self.build(**self.keywords)
        model.load_state_dict(self.state)
        return model.eval()


@dataclass
class Imported:
    """A user's ``module:function``, imported where it is called (from ``folder`` too)."""
    module: str
    function: str
    folder: str

    def __call__(self):
        for entry in ("", self.folder):
            if entry not in sys.path:
                sys.path.insert(0, entry)
        return getattr(importlib.import_module(self.module), self.function)()


@dataclass
class FromFile:
    """A TorchScript or torch.export file, loaded afresh for each copy."""
    path: str

    def __call__(self):
        import torch

        if self.path.endswith(".pt2"):
            return torch.export.load(self.path).module()
        return torch.jit.load(self.path, map_location="cpu")


def from_demo(demo):
    import torch

    from ..demo.model import MobileNetDemo

    state = torch.load(demo.torch_state_path, map_location="cpu", weights_only=True)
    factory = WithState(MobileNetDemo, {"width": demo.meta["width"]}, state)
    with np.load(demo.data_path) as data:
        train_x, train_y = (data["train_x"], data["train_y"]) if "train_x" in data.files else (None, None)
    size = demo.meta["image_size"]
    return TorchSource(factory, (1, 1, size, size), demo.meta["input"], demo.meta["output"],
                       state_hash(factory()), train_x, train_y, family="mobilenet-demo",
                       family_args={"width": demo.meta["width"]})


def from_file(path, input_shape, train_x=None, train_y=None):
    """A TorchScript file (``torch.jit.save``) or a ``torch.export`` program (``.pt2``).

    Such graphs export to ONNX and take every ONNX-level step; module-level steps
    that rebuild layers (prune, lowrank) need the Python module (module:function).
    """
    import torch

    if _is_torch_save_archive(path):
        raise ModelError("%s was written by torch.save (a state dict or a pickled module), not torch.jit.save or "
                         "torch.export; edgeshrink never unpickles files" % path,
                         "give --torch module:function that builds the model (and loads this state dict), or "
                         "save it with torch.jit.save")
    try:
        if str(path).endswith(".pt2"):
            module = torch.export.load(str(path)).module()
        else:
            module = torch.jit.load(str(path), map_location="cpu")
    except Exception as exc:
        raise ModelError("cannot load %s as TorchScript or torch.export: %s" % (path, str(exc).splitlines()[0]))
    return TorchSource(FromFile(str(path)), tuple(input_shape), "input", "output", state_hash(module), train_x,
                       train_y)


def _is_torch_save_archive(path):
    """torch.save writes a zip with data.pkl; TorchScript adds constants.pkl, .pt2 has neither."""
    import zipfile

    try:
        with zipfile.ZipFile(str(path)) as archive:
            names = {name.split("/", 1)[-1] for name in archive.namelist()}
    except (OSError, zipfile.BadZipFile):
        return False
    return "data.pkl" in names and "constants.pkl" not in names


def from_factory(spec, input_shape, train_x=None, train_y=None):
    """``module:function`` (or a TorchScript/.pt2 file) -> TorchSource, or one clear error."""
    from pathlib import Path

    if spec.endswith((".pt", ".pth", ".pt2")):
        if not Path(spec).is_file():
            raise ModelError("PyTorch model file not found: %s" % spec)
        return from_file(spec, input_shape, train_x, train_y)
    if spec.endswith(".onnx") or (Path(spec).is_file() and ":" not in Path(spec).name):
        kind = "an ONNX model" if spec.endswith(".onnx") else "a file"
        raise UsageError("--torch %s: that is %s; --torch takes module:function or a TorchScript/.pt2 file"
                         % (spec, kind), "pass an ONNX model as MODEL: edgeshrink deploy %s" % spec
                         if spec.endswith(".onnx") else None)
    module_name, _, function_name = spec.partition(":")
    if not module_name or not function_name:
        raise UsageError("--torch takes module:function, got %r" % spec)
    if "" not in sys.path:
        sys.path.insert(0, "")
    try:
        function = getattr(importlib.import_module(module_name), function_name)
    except (ImportError, AttributeError) as exc:
        raise ModelError("cannot load %s: %s" % (spec, exc))
    import torch

    model = function()
    if not isinstance(model, torch.nn.Module):
        raise ModelError("%s returned %s, not a torch.nn.Module" % (spec, type(model).__name__))
    state = {k: v.clone() for k, v in model.state_dict().items()}
    factory = WithState(Imported(module_name, function_name, str(Path.cwd())), {}, state)
    return TorchSource(factory, tuple(input_shape), "input", "output", state_hash(model), train_x, train_y)
