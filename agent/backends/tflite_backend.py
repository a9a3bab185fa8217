"""TensorFlow Lite through whichever interpreter the board has: ``ai-edge-litert``
(LiteRT 2.x, Python 3.10+, numpy 2) or the last ``tflite-runtime`` (2.14, older
Pythons, numpy < 2). Both expose the same ``Interpreter``.

Threads are always passed: the Python interpreter uses one thread unless told, and a
default that differs by package would change results. Whether XNNPACK took the graph
is read from the nodes after allocation (a delegated partition is a node named
DELEGATE; the interpreter's own log line comes once per process, so it cannot tell a
second model), and recorded with every result: tflite-runtime 2.14 leaves int8
graphs to its own kernels, LiteRT 2.x delegates them.

Inputs and outputs are presented as the model's float tensors: an int8 (or uint8)
input is quantized with the tensor's own scale and zero point before it is set, an
int8 output dequantized after it is read, so fidelity means the same for every
runtime. The quantized copy of a feed is made once per feed array, outside timing.
"""

import os
import sys
import tempfile

from ...shared.errors import ModelError, RemoteError, first_line
from .probing import probe_distribution

# (module, distribution) in order of preference.
INTERPRETERS = (("ai_edge_litert", "ai-edge-litert"), ("tflite_runtime", "tflite-runtime"))
INSTALL_HINT = ("pip install ai-edge-litert (Python >= 3.10) or pip install tflite-runtime 'numpy<2' "
                "(older Pythons)")
# The name the interpreter gives a node that a delegate (XNNPACK, on CPU) took over.
DELEGATE_OP = "DELEGATE"
# How the interpreter says a model needs an op it lacks (custom, Select TF, too new).
MISSING_OP_MARKERS = ("custom op", "select tensorflow op", "didn't find op", "builtin_code out of range")


def installed():
    """(module, distribution, its probe) of the interpreter to use, or None."""
    for module, distribution in INTERPRETERS:
        probe = probe_distribution(module, distribution, install_hint=INSTALL_HINT)
        if probe.get("available"):
            return module, distribution, probe
    return None


class TfliteBackend:
    # The interpreter's Python API has no per-operator timing; LiteRT's op profiler lives
    # in its C++ benchmark tool, which edgeshrink does not ship to the board.
    profile_unavailable = ("the TFLite/LiteRT Python interpreter exposes no per-operator timing (its op "
                           "profiler is part of the C++ benchmark_model tool)")
    name = "tflite"

    def probe(self):
        """Which interpreter package, its version; without importing it. XNNPACK is
        decided per model as it is allocated: recorded with each result
        (runtime_settings.xnnpack), not here."""
        found = installed()
        if found is None:
            return {"available": False, "reason": "neither ai-edge-litert nor tflite-runtime is installed",
                    "install_hint": INSTALL_HINT}
        return dict(found[2], package=found[1])

    def _interpreter_class(self):
        found = installed()
        if found is None:
            raise RemoteError("TensorFlow Lite is not installed on the device (%s)" % INSTALL_HINT)
        try:
            module = __import__(found[0] + ".interpreter", fromlist=["Interpreter"])
        except Exception as exc:   # tflite-runtime under numpy 2 fails here, in C
            raise RemoteError("%s cannot be imported: %s (tflite-runtime needs numpy<2)"
                              % (found[1], first_line(exc)))
        return module.Interpreter, found[1]

    def preload(self):
        self._interpreter_class()

    def load(self, path, threads, io_names=None):
        interpreter_class, package = self._interpreter_class()
        try:
            interpreter = _quietly(lambda: interpreter_class(model_path=path, num_threads=int(threads)))
            _quietly(interpreter.allocate_tensors)
        except Exception as exc:
            raise ModelError(_load_failure(exc))
        return TfliteRunner(interpreter, threads, package, io_names)


class TfliteRunner:
    def __init__(self, interpreter, threads, package, io_names=None):
        import numpy as np

        self._np = np
        self.interpreter = interpreter
        self.inputs = interpreter.get_input_details()
        self.outputs = interpreter.get_output_details()
        # A converted model's tensors are named by the converter (serving_default_args_0);
        # the host sends the original model's names, by position, so feeds, references
        # and metrics keep the names the user knows.
        self.input_names = _names(io_names, "inputs", self.inputs)
        self.output_names_ = _names(io_names, "outputs", self.outputs)
        ops = _op_names(interpreter)
        self.settings = {"num_threads": int(threads), "package": package,
                         "xnnpack": DELEGATE_OP in ops if ops else None,
                         "providers": (["XNNPACK"] if DELEGATE_OP in ops else []) + ["builtin kernels"],
                         "delegated_nodes": ops.count(DELEGATE_OP), "nodes": len(ops),
                         "io": {"inputs": [_io_record(d) for d in self.inputs],
                                "outputs": [_io_record(d) for d in self.outputs]}}
        # (scale, zero point) of each integer tensor at the model's edges, None for float.
        self._quantization = {d["index"]: _quantization(d) for d in self.inputs + self.outputs}
        self._quantized = {}   # input index -> (the last feed array, its quantized copy)

    def input_specs(self):
        specs = []
        for detail in self.inputs:
            signature = detail.get("shape_signature")
            shape = signature if signature is not None and len(signature) else detail["shape"]
            specs.append({"name": self.input_names[detail["index"]], "shape": [None if d < 0 else int(d) for d in shape],
                          "dtype": "float32" if _quantization(detail) else self._np.dtype(detail["dtype"]).name})
        return specs

    def output_names(self):
        return [self.output_names_[detail["index"]] for detail in self.outputs]

    def run(self, feeds):
        interpreter = self.interpreter
        try:
            for detail in self.inputs:
                value = self._as_input(detail, feeds[self.input_names[detail["index"]]])
                if tuple(value.shape) != tuple(detail["shape"]):
                    interpreter.resize_tensor_input(detail["index"], list(value.shape))
                    interpreter.allocate_tensors()
                    self.inputs = interpreter.get_input_details()
                    detail = next(d for d in self.inputs if d["index"] == detail["index"])
                interpreter.set_tensor(detail["index"], value)
            interpreter.invoke()
            results = []
            for detail in self.outputs:
                value = interpreter.get_tensor(detail["index"])
                quantization = self._quantization[detail["index"]]
                if quantization is not None:
                    value = (value.astype(self._np.float32) - quantization[1]) * self._np.float32(quantization[0])
                results.append(value)
            return results
        except KeyError as exc:
            raise ModelError("inference failed: no feed for input %s" % exc)
        except Exception as exc:
            raise ModelError("inference failed: %s" % first_line(exc))

    def _as_input(self, detail, value):
        """The feed as the tensor takes it; an integer tensor's copy is made once per feed
        array (the timed loop feeds one array), so quantizing is never timed."""
        quantization = self._quantization[detail["index"]]
        if quantization is None:
            return value
        cached = self._quantized.get(detail["index"])
        if cached is not None and cached[0] is value:
            return cached[1]
        np = self._np
        scale, zero = quantization
        info = np.iinfo(detail["dtype"])
        quantized = np.clip(np.round(np.asarray(value, np.float32) / scale + zero), info.min, info.max)
        quantized = quantized.astype(detail["dtype"])
        self._quantized[detail["index"]] = (value, quantized)
        return quantized


def _names(io_names, kind, details):
    """Tensor index -> the name the model is known by: the host's, else the tensor's own."""
    given = (io_names or {}).get(kind) if isinstance(io_names, dict) else None
    if given is None:
        return {d["index"]: d["name"] for d in details}
    if not isinstance(given, list) or len(given) != len(details) or not all(isinstance(n, str) for n in given):
        raise ModelError("the model has %d %s but the host named %s" % (len(details), kind, given))
    return {d["index"]: name for d, name in zip(details, given)}


def _quantization(detail):
    """(scale, zero point) of a per-tensor integer tensor, or None for a float one."""
    import numpy as np

    if not np.issubdtype(np.dtype(detail["dtype"]), np.integer):
        return None
    scale, zero = detail.get("quantization") or (0.0, 0)
    return (float(scale), int(zero)) if scale else None


def _io_record(detail):
    import numpy as np

    quantization = _quantization(detail)
    return {"name": detail["name"], "dtype": np.dtype(detail["dtype"]).name, "shape": [int(d) for d in detail["shape"]],
            "scale": quantization[0] if quantization else None,
            "zero_point": quantization[1] if quantization else None}


def _op_names(interpreter):
    """Node names after allocation (delegated partitions show as DELEGATE); [] when the
    interpreter does not say."""
    try:
        return [op.get("op_name", "") for op in interpreter._get_ops_details()]
    except Exception:
        return []


def _quietly(call):
    """Run ``call`` with file descriptor 2 sent to a temporary file: the interpreter
    logs from C++ (its delegate, its deprecations) where the child's stderr would
    otherwise fill with it; the failure itself arrives as the exception."""
    sys.stderr.flush()
    saved = os.dup(2)
    with tempfile.TemporaryFile() as sink:
        os.dup2(sink.fileno(), 2)
        try:
            return call()
        finally:
            os.dup2(saved, 2)
            os.close(saved)


def _load_failure(exc):
    """One line: a missing op as the interpreter named it, else its first line."""
    for line in str(exc).splitlines():
        if any(marker in line.lower() for marker in MISSING_OP_MARKERS):
            return "TensorFlow Lite cannot run the model: %s" % line.strip()[:300]
    return "TensorFlow Lite cannot load the model: %s" % first_line(exc)
