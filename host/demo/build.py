"""Train the demo model deterministically, export it to ONNX, and cache the result.

The cache key is a hash of the demo's own source and settings, so a change to the
model or the recipe rebuilds it and nothing else does.
"""

import hashlib
import json
import os
import shutil
import time
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from .. import paths
from ..torch_export import export_onnx
from . import data as demo_data

EPOCHS = 5
BATCH = 64
MAX_LR = 4e-3
WIDTH = 1.0
SEED = 0
CALIBRATION_SAMPLES = 128
INPUT_NAME = "image"
OUTPUT_NAME = "logits"


@dataclass
class Demo:
    folder: Path
    meta: dict

    @property
    def onnx_path(self):
        return self.folder / "model.onnx"

    @property
    def data_path(self):
        """``eval_x``, ``eval_y``, ``calib_x``, ``train_x``, ``train_y`` arrays."""
        return self.folder / "data.npz"

    @property
    def torch_state_path(self):
        return self.folder / "model.pt"


def _cache_key():
    digest = hashlib.sha256()
    for name in ("model.py", "data.py", "build.py"):
        digest.update((Path(__file__).parent / name).read_bytes())
    digest.update((Path(__file__).parent.parent / "torch_export.py").read_bytes())
    digest.update(json.dumps([EPOCHS, BATCH, MAX_LR, WIDTH, SEED, demo_data.IMAGE_SIZE]).encode())
    return digest.hexdigest()[:16]


def train(split, log=print):
    import torch
    from torch import nn

    from .model import MobileNetDemo

    torch.manual_seed(SEED)
    model = MobileNetDemo(width=WIDTH)
    x, y = torch.from_numpy(split.train_x), torch.from_numpy(split.train_y)
    steps_per_epoch = (len(x) + BATCH - 1) // BATCH
    optimizer = torch.optim.AdamW(model.parameters(), lr=MAX_LR, weight_decay=1e-4)
    schedule = torch.optim.lr_scheduler.OneCycleLR(optimizer, max_lr=MAX_LR,
                                                   total_steps=EPOCHS * steps_per_epoch)
    for epoch in range(EPOCHS):
        started = time.time()
        model.train()
        order = torch.randperm(len(x), generator=torch.Generator().manual_seed(SEED + epoch))
        for i in range(0, len(x), BATCH):
            batch = order[i:i + BATCH]
            optimizer.zero_grad()
            loss = nn.functional.cross_entropy(model(x[batch]), y[batch])
            loss.backward()
            optimizer.step()
            schedule.step()
        log("demo: epoch %d/%d, loss %.3f, %.1fs" % (epoch + 1, EPOCHS, loss.item(), time.time() - started))
    model.eval()
    return model


def accuracy(model, xs, ys):
    import torch

    with torch.no_grad():
        return float((model(torch.from_numpy(xs)).argmax(1).numpy() == ys).mean())


def ensure_demo(cache_dir=None, log=print):
    """The demo model and its data, built on first use (about a minute on 2 cores)."""
    root = Path(cache_dir) if cache_dir else paths.cache_dir() / "demo"
    folder = root / _cache_key()
    if (folder / "meta.json").exists():
        return Demo(folder, json.loads((folder / "meta.json").read_text()))
    import torch

    log("demo: training the MobileNet-style demo on scikit-learn digits (first use only)")
    started = time.time()
    split = demo_data.load()
    model = train(split, log)
    staging = root / ("%s.tmp%d" % (folder.name, os.getpid()))
    shutil.rmtree(staging, ignore_errors=True)
    staging.mkdir(parents=True)
    export_onnx(model, (1, 1, demo_data.IMAGE_SIZE, demo_data.IMAGE_SIZE), staging / "model.onnx",
                INPUT_NAME, OUTPUT_NAME)
    torch.save(model.state_dict(), staging / "model.pt")
    rng = np.random.RandomState(SEED)
    calib = split.train_x[rng.choice(len(split.train_x), CALIBRATION_SAMPLES, replace=False)]
    np.savez(staging / "data.npz", eval_x=split.eval_x, eval_y=split.eval_y, calib_x=calib,
             train_x=split.train_x, train_y=split.train_y)
    meta = {
        "name": "mobilenet-demo",
        "input": INPUT_NAME, "output": OUTPUT_NAME,
        "image_size": demo_data.IMAGE_SIZE, "width": WIDTH, "epochs": EPOCHS,
        "train_samples": int(len(split.train_x)), "eval_samples": int(len(split.eval_x)),
        "torch_eval_accuracy": accuracy(model, split.eval_x, split.eval_y),
        "train_seconds": round(time.time() - started, 1),
        "torch_version": torch.__version__,
    }
    (staging / "meta.json").write_text(json.dumps(meta, indent=2))
    try:
        os.rename(staging, folder)
    except OSError:  # another process finished first; theirs is identical
        shutil.rmtree(staging, ignore_errors=True)
    log("demo: fp32 accuracy %.2f%% on %d held-out digits, built in %.0fs"
        % (100 * meta["torch_eval_accuracy"], meta["eval_samples"], meta["train_seconds"]))
    return Demo(folder, json.loads((folder / "meta.json").read_text()))
