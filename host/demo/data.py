"""The demo dataset: scikit-learn's bundled 8x8 digits, upscaled like camera crops.

Nothing is downloaded: the digits ship inside scikit-learn. The split is stratified
and seeded, so the held-out evaluation set is the same on every machine.
"""

from dataclasses import dataclass

import numpy as np

IMAGE_SIZE = 96
EVAL_FRACTION = 0.2
SEED = 0


@dataclass
class DigitsSplit:
    train_x: np.ndarray  # (N, 1, S, S) float32 in [0, 1]
    train_y: np.ndarray  # (N,) int64
    eval_x: np.ndarray
    eval_y: np.ndarray


def upscale(images, size):
    """Bilinear upscaling of (N, 8, 8) images to (N, 1, size, size)."""
    import torch
    import torch.nn.functional as F

    tensor = torch.from_numpy(images.astype(np.float32)[:, None])
    return F.interpolate(tensor, size=(size, size), mode="bilinear", align_corners=False).numpy()


def load(size=IMAGE_SIZE):
    from sklearn.datasets import load_digits
    from sklearn.model_selection import train_test_split

    digits = load_digits()
    images = digits.images / 16.0  # pixel values are 0..16
    train_i, eval_i, train_y, eval_y = train_test_split(
        images, digits.target, test_size=EVAL_FRACTION, random_state=SEED, stratify=digits.target)
    return DigitsSplit(train_x=upscale(train_i, size), train_y=train_y.astype(np.int64),
                       eval_x=upscale(eval_i, size), eval_y=eval_y.astype(np.int64))
