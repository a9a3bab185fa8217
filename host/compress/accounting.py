"""Honest accounting of a variant: what it costs to store, compute, and how far it drifts.

- ``size_bytes`` is the file as shipped; ``entropy_coded_bytes`` is that file after
  lzma, which is what weight sharing and unstructured sparsity actually buy (a size
  gain only: the runtime still executes dense float tensors).
- ``params`` counts stored weight elements; ``macs`` counts Conv/Gemm/MatMul
  multiply-adds per sample.
- ``host_fidelity`` compares the variant's outputs with the original model's on the
  evaluation inputs, computed with onnxruntime on the host at compression time; the
  device measures the same again with its own runtime.
"""

import lzma
import os

import numpy as np

from ...shared.fidelity import compare
from ...shared.measurement import Fidelity
from .. import modelinfo
from ..dataset import run_model

FIDELITY_SAMPLES = 256


def describe(path, source_info=None):
    model = modelinfo.load(path)
    macs = modelinfo.multiply_adds(model)
    with open(path, "rb") as handle:
        data = handle.read()
    return {"size_bytes": os.path.getsize(path), "sha256": modelinfo.sha256_file(path),
            "entropy_coded_bytes": len(lzma.compress(data, preset=1)),
            "params": modelinfo.parameter_count(model),
            # A quantized graph does the same arithmetic in another precision; when its
            # DQ/QDQ nodes defeat shape inference, the source's count still holds.
            "macs": macs if macs is not None else (source_info or {}).get("macs")}


def reference(source, dataset):
    return run_model(source, dataset, min(FIDELITY_SAMPLES, dataset.count))


def fidelity(path, dataset, reference_outputs):
    if reference_outputs is None:
        return None
    outputs = run_model(path, dataset, len(reference_outputs))
    if outputs is None or outputs.shape != reference_outputs.shape:
        return Fidelity(measured=False, reason="the variant's inputs or outputs differ from the original's").to_dict()
    labels = None if dataset.labels is None else np.asarray(dataset.labels)[:len(outputs)]
    # The same comparison the agent makes on the board, so host and device figures agree.
    return compare(outputs, reference_outputs, labels).to_dict()
