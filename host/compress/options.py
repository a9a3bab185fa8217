"""Typed options for each technique (config objects, not option bags).

Options are plain dataclasses of str/bool/number so they serialise into manifests
and cache keys unchanged; enum-like fields are validated against their choices.
"""

from dataclasses import asdict, dataclass, fields

from ...shared.errors import UsageError

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


def from_dict(cls, data):
    known = {f.name for f in fields(cls)}
    unknown = sorted(set(data) - known)
    if unknown:
        raise UsageError("unknown option(s) %s for %s; known: %s"
                         % (", ".join(unknown), cls.__name__, ", ".join(sorted(known)) or "none"))
    options = cls(**data)
    options.validate()
    return options
