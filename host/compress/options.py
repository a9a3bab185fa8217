"""Typed options for each technique (config objects, not option bags).

Options are plain dataclasses of str/bool/number so they serialise into manifests
and cache keys unchanged; enum-like fields are validated against their choices.
"""

from dataclasses import asdict, dataclass, fields

from ...shared.errors import UsageError
from ...shared.types import accepts

CALIBRATION_METHODS = ("minmax", "entropy", "percentile")
QUANT_TYPES = ("int8", "uint8")


def _check_choice(field_name, value, choices):
    if value not in choices:
        raise UsageError("%s must be one of %s, not %r" % (field_name, ", ".join(choices), value))


@dataclass(frozen=True)
class Fp32Options:
    """The original model, unchanged: the baseline every ratio is against."""

    def validate(self):
        pass


@dataclass(frozen=True)
class Fp16Options:
    # Inputs and outputs stay float32 so callers need no change.
    keep_io_types: bool = True

    def validate(self):
        pass


@dataclass(frozen=True)
class Int8DynamicOptions:
    # uint8 weights by default: with int8 weights onnxruntime's CPU ConvInteger path
    # was measured 3x slower again than uint8 on the demo (see README).
    weight_type: str = "uint8"
    per_channel: bool = False
    reduce_range: bool = False

    def validate(self):
        _check_choice("weight_type", self.weight_type, QUANT_TYPES)


@dataclass(frozen=True)
class Int8StaticOptions:
    per_channel: bool = True
    # 7-bit weights: avoids int16 overflow in the u8s8 kernels of CPUs without VNNI.
    reduce_range: bool = False
    calibration: str = "minmax"
    activation_type: str = "int8"
    weight_type: str = "int8"
    calibration_samples: int = 128

    def validate(self):
        _check_choice("calibration", self.calibration, CALIBRATION_METHODS)
        _check_choice("activation_type", self.activation_type, QUANT_TYPES)
        _check_choice("weight_type", self.weight_type, QUANT_TYPES)
        if self.calibration_samples < 1:
            raise UsageError("calibration_samples must be >= 1")


def to_dict(options):
    return asdict(options)


_KINDS = {bool: "true or false", int: "a whole number", float: "a finite number", str: "a string"}


def _type_problem(kind, value):
    """Why ``value`` cannot be an option of type ``kind``: a TOML string "false" is not
    false, 1.5 epochs are not epochs, and NaN or infinity is never a setting."""
    return None if accepts(kind, value) else "must be %s, got %r" % (_KINDS.get(kind, kind.__name__), value)


def from_dict(cls, data):
    known = {f.name for f in fields(cls)}
    unknown = sorted(set(data) - known)
    if unknown:
        raise UsageError("unknown option(s) %s for %s; known: %s"
                         % (", ".join(unknown), cls.__name__, ", ".join(sorted(known)) or "none"))
    kinds = {f.name: f.type for f in fields(cls)}
    for name, value in data.items():
        problem = _type_problem(kinds[name], value)
        if problem:
            raise UsageError("option %s %s" % (name, problem))
    options = cls(**data)
    options.validate()
    return options


PRUNE_CRITERIA = ("l1", "entropy", "thinet")


def _check_range(field_name, value, low, high, low_open=False):
    if not ((low < value) if low_open else (low <= value)) or value > high:
        raise UsageError("%s must be in %s%s, %s], not %r" % (field_name, "(" if low_open else "[", low, high, value))


@dataclass(frozen=True)
class PruneOptions:
    ratio: float = 0.5            # fraction of each layer's filters removed
    criterion: str = "l1"         # l1 | entropy | thinet
    sensitivity: bool = False     # per-layer ratios from a sensitivity scan (mean = ratio)
    global_pruning: bool = False
    round_to: int = 8             # keep channel counts multiples of 8 for CPU kernels

    def validate(self):
        _check_range("ratio", self.ratio, 0.0, 0.95)
        _check_choice("criterion", self.criterion, PRUNE_CRITERIA)
        if self.round_to < 1:
            raise UsageError("round_to must be >= 1")


@dataclass(frozen=True)
class WidthOptions:
    width: float = 0.5

    def validate(self):
        _check_range("width", self.width, 0.0, 1.0, low_open=True)


@dataclass(frozen=True)
class DistillOptions:
    epochs: int = 3
    temperature: float = 4.0
    alpha: float = 0.9            # weight of the softened-logit loss vs cross-entropy on labels
    feature_weight: float = 0.0   # > 0: also mimic the teacher's penultimate features
    lr: float = 3e-3
    batch_size: int = 64
    # The budget is `epochs`: a variant must not depend on how busy the machine was. This
    # wall-clock limit is only a safety stop against a runaway run; a variant it cuts short
    # is flagged (manifest "flags": cut_short).
    max_seconds: float = 3600.0

    def validate(self):
        if self.epochs < 1 or self.batch_size < 1:
            raise UsageError("epochs and batch_size must be >= 1")
        _check_range("alpha", self.alpha, 0.0, 1.0)
        _check_range("temperature", self.temperature, 0.0, 100.0, low_open=True)
        if self.feature_weight < 0 or self.lr <= 0 or self.max_seconds <= 0:
            raise UsageError("feature_weight must be >= 0, lr and max_seconds > 0")


@dataclass(frozen=True)
class LowRankOptions:
    energy: float = 0.9           # fraction of squared singular values kept per layer

    def validate(self):
        _check_range("energy", self.energy, 0.0, 1.0, low_open=True)


@dataclass(frozen=True)
class ClusterOptions:
    clusters: int = 16            # shared values per layer (16 = 4-bit indices)

    def validate(self):
        if not 2 <= self.clusters <= 256:
            raise UsageError("clusters must be between 2 and 256")


@dataclass(frozen=True)
class MagnitudePruneOptions:
    sparsity: float = 0.5         # fraction of Conv/Gemm/MatMul weights set to zero

    def validate(self):
        _check_range("sparsity", self.sparsity, 0.0, 0.99)


@dataclass(frozen=True)
class Int4Options:
    block_size: int = 32
    symmetric: bool = True

    def validate(self):
        if self.block_size not in (16, 32, 64, 128, 256):
            raise UsageError("block_size must be one of 16, 32, 64, 128, 256")


@dataclass(frozen=True)
class MixedPrecisionOptions:
    target_cosine: float = 0.999  # keep sensitive nodes in float until outputs reach this
    per_channel: bool = True
    reduce_range: bool = False
    calibration: str = "minmax"
    calibration_samples: int = 64
    # Each pass quantizes the whole model; on a large model the per-node scan alone takes
    # many passes. Checked between passes (one pass may overrun it); a variant that stops
    # here below its target is flagged (manifest "flags": missed_target).
    max_seconds: float = 600.0

    def validate(self):
        _check_range("target_cosine", self.target_cosine, 0.0, 1.0)
        _check_choice("calibration", self.calibration, CALIBRATION_METHODS)
        if self.calibration_samples < 1:
            raise UsageError("calibration_samples must be >= 1")
        if self.max_seconds <= 0:
            raise UsageError("max_seconds must be > 0")


@dataclass(frozen=True)
class TfliteStaticOptions:
    calibration_samples: int = 128
    # 16: int16 activations (static_wi8_ai16), for models that lose too much at 8.
    activation_bits: int = 8

    def validate(self):
        if self.calibration_samples < 1:
            raise UsageError("calibration_samples must be >= 1")
        if self.activation_bits not in (8, 16):
            raise UsageError("activation_bits must be 8 or 16, not %r" % (self.activation_bits,))


@dataclass(frozen=True)
class ResolutionOptions:
    scale: float = 0.75           # input side multiplier (0.75: 96x96 -> 72x72)

    def validate(self):
        _check_range("scale", self.scale, 0.1, 1.0)
