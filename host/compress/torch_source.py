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


def from_demo(demo):
    import torch

    from ..demo.model import MobileNetDemo

    state = torch.load(demo.torch_state_path, map_location="cpu", weights_only=True)

    def factory():
        model = MobileNetDemo(width=demo.meta["width"])
        model.load_state_dict(state)
        return model.eval()

    with np.load(demo.data_path) as data:
        train_x, train_y = (data["train_x"], data["train_y"]) if "train_x" in data.files else (None, None)
    size = demo.meta["image_size"]
    return TorchSource(factory, (1, 1, size, size), demo.meta["input"], demo.meta["output"],
                       state_hash(factory()), train_x, train_y, family="mobilenet-demo")


def from_factory(spec, input_shape, train_x=None, train_y=None):
    """``module:function`` -> TorchSource; one clear error when it does not resolve."""
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

    def factory():
        fresh = function()
        fresh.load_state_dict(state)
        return fresh.eval()

    return TorchSource(factory, tuple(input_shape), "input", "output", state_hash(model), train_x, train_y)
