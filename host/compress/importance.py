"""Channel importance criteria for structured pruning, beyond torch-pruning's L1.

Both read statistics gathered in one pass over calibration data and score channels
group by group, so torch-pruning's dependency graph still removes the coupled
channels of the next layer, the depthwise convolution and the batch norm together.

- Entropy (Luo & Wu, "An Entropy-based Pruning Method for CNN Compression"): a
  channel whose globally pooled activation barely varies across inputs carries
  little information; score = entropy of its histogram over the samples.
- ThiNet-style reconstruction (Luo et al., "ThiNet"): a channel matters as much as
  its contribution to the *next* layer's output; score = E[x_c^2] * ||W_next[:, c]||^2,
  the expected squared change of the next layer's output when channel c is removed.
"""

import numpy as np
import torch
import torch_pruning as tp
from torch import nn

HISTOGRAM_BINS = 32


def collect_statistics(model, samples, batch_size=64):
    """Per Conv2d/Linear: pooled outputs per channel (for entropy) and the mean
    square of each input channel (for reconstruction), over calibration samples."""
    pooled, input_power, hooks = {}, {}, []

    def hook(module, inputs, output):
        x = inputs[0].detach()
        reduce_dims = [d for d in range(x.dim()) if d != 1]
        input_power[module] = input_power.get(module, 0) + (x ** 2).mean(dim=reduce_dims) * len(x)
        out = output.detach()
        pooled.setdefault(module, []).append(out.flatten(2).mean(2) if out.dim() > 2 else out)

    for module in model.modules():
        if isinstance(module, (nn.Conv2d, nn.Linear)):
            hooks.append(module.register_forward_hook(hook))
    model.eval()
    with torch.no_grad():
        for i in range(0, len(samples), batch_size):
            model(torch.from_numpy(samples[i:i + batch_size]))
    for handle in hooks:
        handle.remove()
    count = float(len(samples))
    return ({m: torch.cat(v) for m, v in pooled.items()}, {m: p / count for m, p in input_power.items()})


def channel_entropy(pooled):
    """Entropy (bits) of each channel's pooled activation over the samples."""
    scores = []
    for column in pooled.T.numpy():
        histogram, _ = np.histogram(column, bins=HISTOGRAM_BINS)
        p = histogram[histogram > 0] / float(len(column))
        scores.append(float(-(p * np.log2(p)).sum()))
    return torch.tensor(scores)


class _StatisticImportance(tp.importance.Importance):
    """Accumulates per-layer channel scores over a dependency group (by root index);
    a group with no scored layer falls back to L1 magnitude."""

    def __init__(self):
        self.fallback = tp.importance.MagnitudeImportance(p=1)

    def layer_scores(self, layer, pruning_fn):
        """Per-channel scores of ``layer`` for this kind of pruning, or None (subclasses)."""
        return None

    def __call__(self, group):
        total = torch.zeros(len(group[0].root_idxs))
        found = False
        for i, (dep, idxs) in enumerate(group):
            scores = self.layer_scores(dep.layer, dep.pruning_fn)
            if scores is None:
                continue
            total.scatter_add_(0, torch.tensor(group[i].root_idxs), scores[idxs].float())
            found = True
        return total if found else self.fallback(group)


class EntropyImportance(_StatisticImportance):
    def __init__(self, pooled):
        super().__init__()
        self.entropy = {module: channel_entropy(values) for module, values in pooled.items()}

    def layer_scores(self, layer, pruning_fn):
        if pruning_fn in (tp.prune_conv_out_channels, tp.prune_linear_out_channels):
            return self.entropy.get(layer)
        return None


class ReconstructionImportance(_StatisticImportance):
    def __init__(self, input_power):
        super().__init__()
        self.input_power = input_power

    def layer_scores(self, layer, pruning_fn):
        if pruning_fn not in (tp.prune_conv_in_channels, tp.prune_linear_in_channels):
            return None
        power = self.input_power.get(layer)
        if power is None or getattr(layer, "groups", 1) != 1:
            return None
        weight = layer.weight.detach()
        per_input = (weight ** 2).sum(dim=[d for d in range(weight.dim()) if d != 1])
        return power * per_input
