"""Module-level generators: they change a PyTorch model before it is exported.

Each step takes a ``TorchWork`` (the model being compressed, the frozen original as
teacher, the source with its training data, calibration samples) and its options.
"""

import copy
import time
from dataclasses import dataclass
from typing import Callable

import numpy as np
import torch
import torch_pruning as tp
from torch import nn

from ...shared.errors import UsageError
from . import importance, options as opts
from .accounting import CUT_SHORT, step_flag
from .registry import TORCH, register

SEED = 0


@dataclass
class TorchWork:
    model: nn.Module
    teacher: nn.Module
    source: object          # TorchSource
    calibration: np.ndarray  # calibration samples of the (single) input
    log: Callable = print


def _example(work):
    return torch.zeros(*work.source.input_shape)


def _classifier(model):
    """The last Linear: its outputs are the classes, never pruned."""
    linears = [m for m in model.modules() if isinstance(m, nn.Linear)]
    return linears[-1:] if linears else []


def _prunable_convs(model, ignored):
    return [m for m in model.modules() if isinstance(m, nn.Conv2d) and m.groups == 1 and m not in ignored
            and m.out_channels > 8]


def _importance(work, criterion):
    if criterion == "l1":
        return tp.importance.MagnitudeImportance(p=1)
    pooled, power = importance.collect_statistics(work.model, work.calibration)
    if criterion == "entropy":
        return importance.EntropyImportance(pooled)
    return importance.ReconstructionImportance(power)


def _output_cosine(model, reference, samples):
    with torch.no_grad():
        out = model(torch.from_numpy(samples)).flatten(1)
    return float(nn.functional.cosine_similarity(out, reference, dim=1).mean())


def sensitivity_ratios(work, options):
    """Per-layer pruning ratios from a sensitivity scan: each layer is pruned alone at
    the target ratio, and the more its output fidelity suffers, the less it is pruned.
    Ratios are spread linearly by rank between 2x the target (least sensitive) and 0,
    which keeps their mean at the target."""
    samples = work.calibration[:64]
    with torch.no_grad():
        reference = work.model(torch.from_numpy(samples)).flatten(1)
    ignored = _classifier(work.model)
    names = {m: n for n, m in work.model.named_modules()}
    losses = {}
    for layer in _prunable_convs(work.model, ignored):
        probe = copy.deepcopy(work.model)
        probe_layer = dict(probe.named_modules())[names[layer]]
        pruner = tp.pruner.MetaPruner(probe, _example(work), importance=_importance(work, options.criterion),
                                      pruning_ratio=0.0, pruning_ratio_dict={probe_layer: options.ratio},
                                      ignored_layers=_classifier(probe), round_to=options.round_to)
        pruner.step()
        losses[layer] = 1.0 - _output_cosine(probe, reference, samples)
    ordered = sorted(losses, key=losses.get)  # least sensitive first
    count = max(1, len(ordered) - 1)
    ratios = {layer: min(0.9, 2 * options.ratio * (1 - rank / count)) for rank, layer in enumerate(ordered)}
    work.log("prune: sensitivity scan of %d layers, ratios %.2f..%.2f"
             % (len(ratios), min(ratios.values()), max(ratios.values())))
    return ratios


@register("prune", opts.PruneOptions, "structured filter pruning (next layer's channels follow)", level=TORCH)
def prune(work, options):
    ratios = sensitivity_ratios(work, options) if options.sensitivity else None
    pruner = tp.pruner.MetaPruner(
        work.model, _example(work), importance=_importance(work, options.criterion),
        pruning_ratio=0.0 if ratios else options.ratio, pruning_ratio_dict=ratios,
        global_pruning=options.global_pruning, ignored_layers=_classifier(work.model),
        round_to=options.round_to)
    pruner.step()


@register("width", opts.WidthOptions, "MobileNet width multiplier: a thinner student (train it with distill)",
          level=TORCH)
def width(work, options):
    if work.source.family != "mobilenet-demo":
        raise UsageError("the width step applies to the MobileNet demo family only")
    from ..demo.model import MobileNetDemo

    torch.manual_seed(SEED)
    args = dict(work.source.family_args or {})
    args["width"] = args.get("width", 1.0) * options.width  # relative to the original's width
    work.model = MobileNetDemo(**args).eval()


@register("resolution", opts.ResolutionOptions,
          "MobileNet resolution multiplier: the network runs on a downscaled input (train it with distill)",
          level=TORCH)
def resolution(work, options):
    # The variant still takes the original input and downscales it first (an ONNX Resize),
    # so the same evaluation data measures it; a deployment can feed smaller frames.
    if any(isinstance(m, nn.Linear) for m in work.model.modules()) and not any(
            isinstance(m, (nn.AdaptiveAvgPool2d, nn.AdaptiveMaxPool2d)) for m in work.model.modules()):
        raise UsageError("the resolution step needs a network with global pooling before its classifier")
    work.model = nn.Sequential(nn.Upsample(scale_factor=options.scale, mode="bilinear", align_corners=False),
                               work.model).eval()


@register("distill", opts.DistillOptions,
          "knowledge distillation from the original (softened logits, optional feature mimicking)", level=TORCH)
def distill(work, options):
    """Trains for ``options.epochs`` (the budget); ``max_seconds`` is only a safety stop."""
    source = work.source
    if not source.has_training_data:
        raise UsageError("distill needs training data: the demo has it; for your model pass --train-data")
    x, y = torch.from_numpy(source.train_x), torch.from_numpy(source.train_y.astype(np.int64))
    teacher_logits, teacher_features = _forward_with_features(work.teacher, x)
    student = work.model
    _, student_features = _forward_with_features(student, x[:2])
    projection = nn.Linear(student_features.shape[1], teacher_features.shape[1]) \
        if options.feature_weight > 0 else None
    parameters = list(student.parameters()) + (list(projection.parameters()) if projection else [])
    steps = options.epochs * ((len(x) + options.batch_size - 1) // options.batch_size)
    optimizer = torch.optim.AdamW(parameters, lr=options.lr, weight_decay=1e-4)
    schedule = torch.optim.lr_scheduler.OneCycleLR(optimizer, max_lr=options.lr, total_steps=max(1, steps))
    captured = {}
    hook = _classifier(student)[0].register_forward_hook(lambda m, i, o: captured.update(features=i[0]))
    started, temperature = time.monotonic(), options.temperature
    completed = 0
    try:
        for epoch in range(options.epochs):
            student.train()
            order = torch.randperm(len(x), generator=torch.Generator().manual_seed(SEED + epoch))
            for i in range(0, len(x), options.batch_size):
                batch = order[i:i + options.batch_size]
                logits = student(x[batch])
                soft = nn.functional.kl_div(nn.functional.log_softmax(logits / temperature, 1),
                                            nn.functional.softmax(teacher_logits[batch] / temperature, 1),
                                            reduction="batchmean") * temperature ** 2
                loss = options.alpha * soft + (1 - options.alpha) * nn.functional.cross_entropy(logits, y[batch])
                if projection is not None:
                    loss = loss + options.feature_weight * nn.functional.mse_loss(
                        projection(captured["features"]), teacher_features[batch])
                optimizer.zero_grad()
                loss.backward()
                optimizer.step()
                schedule.step()
            completed = epoch + 1
            work.log("distill: epoch %d/%d, loss %.3f" % (completed, options.epochs, loss.item()))
            if completed < options.epochs and time.monotonic() - started > options.max_seconds:
                break   # the safety stop; the learning-rate schedule did not finish
    finally:
        hook.remove()
        student.eval()
    return _distill_details(work, options, completed, time.monotonic() - started)


def _distill_details(work, options, completed, seconds):
    """Epochs planned and done; a variant the wall-clock safety stop cut short is flagged
    (and said loudly): it depends on how busy the machine was."""
    details = {"epochs": options.epochs, "epochs_completed": completed}
    if completed < options.epochs:
        text = ("the %g s safety limit (max_seconds) stopped distillation after %d of %d epochs (%.0f s), "
                "so the variant depends on how busy the machine was and its learning-rate schedule never finished; "
                "it is made again next time (raise max_seconds if this machine needs longer)"
                % (options.max_seconds, completed, options.epochs, seconds))
        work.log("warning: distill was cut short: " + text)
        details["flags"] = [step_flag(CUT_SHORT, text)]
    return details


def _forward_with_features(model, x, batch_size=256):
    """Logits and the classifier's input features (the penultimate layer), no gradients."""
    captured, logits, features = {}, [], []
    hook = _classifier(model)[0].register_forward_hook(lambda m, i, o: captured.update(features=i[0]))
    model.eval()
    try:
        with torch.no_grad():
            for i in range(0, len(x), batch_size):
                logits.append(model(x[i:i + batch_size]))
                features.append(captured["features"])
    finally:
        hook.remove()
    return torch.cat(logits), torch.cat(features)


def _rank_for_energy(singular_values, energy):
    cumulative = torch.cumsum(singular_values ** 2, 0) / (singular_values ** 2).sum()
    return int(torch.searchsorted(cumulative, torch.tensor(energy)).item()) + 1


def _factorized_linear(layer, energy):
    weight = layer.weight.detach()
    u, s, vh = torch.linalg.svd(weight, full_matrices=False)
    rank = _rank_for_energy(s, energy)
    if rank * (layer.in_features + layer.out_features) >= layer.in_features * layer.out_features:
        return None  # no saving at this rank
    first, second = nn.Linear(layer.in_features, rank, bias=False), nn.Linear(rank, layer.out_features,
                                                                             bias=layer.bias is not None)
    first.weight.data = (torch.diag(s[:rank]) @ vh[:rank]).contiguous()
    second.weight.data = u[:, :rank].contiguous()
    if layer.bias is not None:
        second.bias.data = layer.bias.detach().clone()
    return nn.Sequential(first, second)


def _factorized_conv(layer, energy):
    """SVD for 1x1 convolutions; a Tucker-2 split (1x1, kxk core, 1x1) for kxk ones."""
    weight = layer.weight.detach()
    out_c, in_c, kh, kw = weight.shape
    if layer.groups != 1 or in_c < 2:
        return None
    if kh == kw == 1:
        u, s, vh = torch.linalg.svd(weight[:, :, 0, 0], full_matrices=False)
        rank = _rank_for_energy(s, energy)
        if rank * (in_c + out_c) >= in_c * out_c:
            return None
        first = nn.Conv2d(in_c, rank, 1, layer.stride, 0, bias=False)
        second = nn.Conv2d(rank, out_c, 1, bias=layer.bias is not None)
        first.weight.data = (torch.diag(s[:rank]) @ vh[:rank])[:, :, None, None].contiguous()
        second.weight.data = u[:, :rank, None, None].contiguous()
    else:
        u_out, s_out, _ = torch.linalg.svd(weight.reshape(out_c, -1), full_matrices=False)
        u_in, s_in, _ = torch.linalg.svd(weight.permute(1, 0, 2, 3).reshape(in_c, -1), full_matrices=False)
        r_out, r_in = _rank_for_energy(s_out, energy), _rank_for_energy(s_in, energy)
        if r_in * in_c + r_out * r_in * kh * kw + out_c * r_out >= out_c * in_c * kh * kw:
            return None
        u_out, u_in = u_out[:, :r_out], u_in[:, :r_in]
        core = torch.einsum("oikl,or,is->rskl", weight, u_out, u_in)
        first = nn.Conv2d(in_c, r_in, 1, bias=False)
        middle = nn.Conv2d(r_in, r_out, (kh, kw), layer.stride, layer.padding, layer.dilation, bias=False)
        second = nn.Conv2d(r_out, out_c, 1, bias=layer.bias is not None)
        first.weight.data = u_in.t()[:, :, None, None].contiguous()
        middle.weight.data = core.contiguous()
        second.weight.data = u_out[:, :, None, None].contiguous()
        first = nn.Sequential(first, middle)
    if layer.bias is not None:
        second.bias.data = layer.bias.detach().clone()
    return nn.Sequential(first, second)


@register("lowrank", opts.LowRankOptions, "low-rank factorization (SVD, Tucker-2) keeping an energy fraction",
          level=TORCH)
def lowrank(work, options):
    replaced = 0
    for name, module in list(work.model.named_modules()):
        if isinstance(module, nn.Linear):
            replacement = _factorized_linear(module, options.energy)
        elif isinstance(module, nn.Conv2d):
            replacement = _factorized_conv(module, options.energy)
        else:
            continue
        if replacement is not None:
            parent_name, _, child = name.rpartition(".")
            parent = work.model.get_submodule(parent_name) if parent_name else work.model
            setattr(parent, child, replacement)
            replaced += 1
    work.log("lowrank: factorized %d layers at %.0f%% energy" % (replaced, 100 * options.energy))


@register("cluster", opts.ClusterOptions, "weight sharing: k-means clusters per layer", level=TORCH)
def cluster(work, options):
    from sklearn.cluster import KMeans

    for module in work.model.modules():
        if not isinstance(module, (nn.Conv2d, nn.Linear)) or module.weight.numel() < 4 * options.clusters:
            continue
        values = module.weight.detach().numpy().reshape(-1, 1)
        rng = np.random.RandomState(SEED)
        fit_on = values[rng.choice(len(values), min(len(values), 20000), replace=False)]
        kmeans = KMeans(n_clusters=options.clusters, n_init=1, random_state=SEED).fit(fit_on)
        shared = kmeans.cluster_centers_[kmeans.predict(values)].reshape(module.weight.shape)
        module.weight.data = torch.from_numpy(shared.astype(np.float32))
