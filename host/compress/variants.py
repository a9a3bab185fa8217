"""Making variants of a model, each with a manifest, cached by content hash.

The cache key covers everything that decides a variant's bytes: the source model's
hash, the technique and its options, the calibration data's hash, and the versions
of edgeshrink and onnxruntime. An unchanged model is never compressed twice.
"""

import hashlib
import json
import os
import shutil
import tempfile
import time
from dataclasses import dataclass
from pathlib import Path
from typing import List

import numpy as np

from ... import host
from .. import modelinfo, paths
from . import options as opts
from . import techniques


@dataclass(frozen=True)
class VariantSpec:
    """One variant to make: a name, a technique, and that technique's options."""

    name: str
    technique: str
    options: object

    @classmethod
    def build(cls, name, technique, **options):
        tech = techniques.get(technique)
        return cls(name, technique, opts.from_dict(tech.options_class, options))


@dataclass
class Variant:
    name: str
    path: Path
    manifest: dict
    cached: bool = False

    @property
    def sha256(self):
        return self.manifest["sha256"]


def default_specs(reduce_range=False):
    """The default grid: the baseline and the post-training quantizations."""
    return [
        VariantSpec.build("fp32", "fp32"),
        VariantSpec.build("fp16", "fp16"),
        VariantSpec.build("int8-dynamic", "int8-dynamic", reduce_range=reduce_range),
        VariantSpec.build("int8-static", "int8-static", reduce_range=reduce_range),
    ]


def _data_hash(dataset):
    digest = hashlib.sha256()
    for name in sorted(dataset.calibration):
        array = np.ascontiguousarray(dataset.calibration[name])
        digest.update(name.encode() + str(array.dtype).encode() + str(array.shape).encode())
        digest.update(array.tobytes())
    return digest.hexdigest()


def _versions():
    import onnxruntime

    return {"edgeshrink": host.__version__, "onnxruntime": onnxruntime.__version__}


def cache_key(source_sha, spec, data_sha):
    key = {"source": source_sha, "technique": spec.technique, "options": opts.to_dict(spec.options),
           "data": data_sha if spec.technique == "int8-static" else None, "versions": _versions()}
    return hashlib.sha256(json.dumps(key, sort_keys=True).encode()).hexdigest()[:32]


def describe(path, source_info=None):
    """Size, hash, parameters, multiply-adds of a model file."""
    model = modelinfo.load(path)
    macs = modelinfo.multiply_adds(model)
    return {"size_bytes": os.path.getsize(path), "sha256": modelinfo.sha256_file(path),
            "params": modelinfo.parameter_count(model),
            # A quantized graph does the same arithmetic in another precision; when its
            # DQ/QDQ nodes defeat shape inference, the source's count still holds.
            "macs": macs if macs is not None else (source_info or {}).get("macs")}


def make_variants(source, dataset, specs, cache_dir=None, log=print):
    """Make (or fetch from the cache) every variant in ``specs`` for the ONNX ``source``."""
    source = Path(source)
    modelinfo.load(source)  # fail early and clearly on a bad file
    source_sha = modelinfo.sha256_file(source)
    source_info = describe(source)
    data_sha = _data_hash(dataset)
    root = Path(cache_dir) if cache_dir else paths.cache_dir() / "variants"
    root.mkdir(parents=True, exist_ok=True)
    made: List[Variant] = []
    with tempfile.TemporaryDirectory(prefix="edgeshrink-") as scratch:
        workdir = Path(scratch)
        for spec in specs:
            key = cache_key(source_sha, spec, data_sha)
            folder = root / key
            if (folder / "manifest.json").exists():
                manifest = json.loads((folder / "manifest.json").read_text())
                made.append(Variant(spec.name, folder / "model.onnx", manifest, cached=True))
                continue
            log("compress: %s (%s)" % (spec.name, spec.technique))
            _build_into(folder, source, source_sha, source_info, spec, dataset, data_sha, workdir)
            made.append(Variant(spec.name, folder / "model.onnx",
                                json.loads((folder / "manifest.json").read_text())))
    return made


def _build_into(folder, source, source_sha, source_info, spec, dataset, data_sha, workdir):
    """Make one variant in a staging folder and rename it into place: complete or absent."""
    staging = folder.with_name("%s.tmp%d" % (folder.name, os.getpid()))
    shutil.rmtree(staging, ignore_errors=True)
    staging.mkdir()
    try:
        started = time.time()
        techniques.get(spec.technique).generate(source, staging / "model.onnx", spec.options,
                                                dataset, workdir)
        seconds = time.time() - started
        manifest = {
            "name": spec.name, "technique": spec.technique,
            "options": opts.to_dict(spec.options),
            "lineage": [{"technique": spec.technique, "options": opts.to_dict(spec.options)}],
            "source": {"path": str(source), "sha256": source_sha, **source_info},
            "calibration": {"sha256": data_sha, "source": dataset.source}
            if spec.technique == "int8-static" else None,
            "compress_seconds": round(seconds, 3), "versions": _versions(), "cache_key": folder.name,
        }
        manifest.update(describe(staging / "model.onnx", source_info))
        (staging / "manifest.json").write_text(json.dumps(manifest, indent=2, sort_keys=True))
        os.rename(staging, folder)
    except OSError:
        if not (folder / "manifest.json").exists():
            raise
        # Made concurrently by another run from identical inputs: keep theirs.
    finally:
        shutil.rmtree(staging, ignore_errors=True)
