"""Making variants of a model, each a chain of steps with a manifest, cached by hash.

A variant is an ordered chain: module-level (PyTorch) steps first, then export to
ONNX and ONNX-level steps, or export to TensorFlow Lite and one TFLite step; each step
takes the previous output. A TFLite chain starts from the PyTorch model (litert-torch
converts modules, not ONNX graphs) or from a .tflite the user gave. The cache key covers
everything that decides a variant's bytes and its manifest's figures: the source
model's hash (and the PyTorch weights' hash for module-level chains), every step and
its options, the hash of the whole dataset (every manifest's host fidelity is computed
on its evaluation inputs, so a variant made on synthetic inputs is never reused for
real data), and the tool versions. An unchanged model is never compressed twice; a
variant a time limit cut short is made again (it depended on how busy the machine was).

Every manifest has ``flags`` (see accounting.py): what makes the variant other than its
recipe asked for, raised by its steps (``details["flags"]``) or by the checks on a
quantized result. ONNX generators that report progress take a keyword ``log``.
"""

import hashlib
import inspect
import json
import os
import re
import shutil
import tempfile
import time
from dataclasses import dataclass
from pathlib import Path
from typing import List, Optional, Tuple

import numpy as np

from ... import host
from ...shared.errors import ModelError, UsageError
from .. import modelinfo, paths, tflite_model
from . import accounting, executors, float_export, prepare
from . import options as opts
from . import registry

# Steps whose bytes depend on the calibration or training data (the manifest's
# "calibration" record); every variant's figures depend on the evaluation data.
_DATA_STEPS = {"int8-static", "mixed-precision", "prune", "distill"}


@dataclass(frozen=True)
class Step:
    technique: str
    options: object

    def to_dict(self):
        return {"technique": self.technique, "options": opts.to_dict(self.options)}


@dataclass(frozen=True)
class VariantSpec:
    """One variant to make: a name and an ordered chain of steps."""

    name: str
    steps: Tuple[Step, ...]

    @classmethod
    def build(cls, name, technique, **options):
        return cls.chain(name, [dict(options, step=technique)])

    @classmethod
    def chain(cls, name, steps):
        """From ``[{"step": "prune", "ratio": 0.5}, ...]``; validates names, options, order."""
        built = []
        for entry in steps:
            entry = dict(entry)
            technique = registry.get(entry.pop("step", None) or "")
            built.append(Step(technique.name, opts.from_dict(technique.options_class, entry)))
        spec = cls(name, tuple(built))
        spec.validate()
        return spec

    @property
    def technique(self):
        return "+".join(step.technique for step in self.steps)

    @property
    def torch_steps(self):
        return [s for s in self.steps if registry.get(s.technique).level == registry.TORCH]

    @property
    def tflite_steps(self):
        return [s for s in self.steps if registry.get(s.technique).level == registry.TFLITE]

    @property
    def format(self):
        """The file this chain makes: "tflite" or "onnx"."""
        return "tflite" if self.tflite_steps else "onnx"

    @property
    def runtime(self):
        """The board runtime that runs this variant's file."""
        return FORMAT_RUNTIMES[self.format]

    def validate(self):
        if not self.steps:
            raise UsageError("variant '%s' has no steps" % self.name)
        levels = [registry.get(step.technique).level for step in self.steps]
        seen_file = None
        for step, level in zip(self.steps, levels):
            if level != registry.TORCH:
                seen_file = step.technique
            elif seen_file:
                raise UsageError("variant '%s': PyTorch step '%s' must come before '%s'"
                                 % (self.name, step.technique, seen_file))
        if registry.ONNX in levels and registry.TFLITE in levels:
            raise UsageError("variant '%s' mixes ONNX steps and TensorFlow Lite steps; a variant is one file "
                             "for one runtime" % self.name)
        if levels.count(registry.TFLITE) > 1:
            raise UsageError("variant '%s' has %d TensorFlow Lite steps; it takes one (tflite, tflite-fp16, "
                             "tflite-int8-dynamic, tflite-int8-weights or tflite-int8-static)"
                             % (self.name, levels.count(registry.TFLITE)))
        names = [s.technique for s in self.steps]
        if "fp32" in names and len(names) > 1:
            raise UsageError("variant '%s': fp32 is the unchanged baseline and cannot be chained" % self.name)
        for retrains in ("width", "resolution"):
            if retrains in names and "distill" not in names[names.index(retrains):]:
                raise UsageError("variant '%s': a %s step needs a distill step after it to train the result"
                                 % (self.name, retrains))


# Each variant file's format and the board runtime that runs it.
FORMAT_RUNTIMES = {"onnx": "onnxruntime", "tflite": "tflite"}


@dataclass
class Variant:
    name: str
    path: Optional[Path]
    manifest: dict
    cached: bool = False
    failure: Optional[str] = None   # why it could not be made; the other variants go on

    @property
    def ok(self):
        return self.failure is None

    @property
    def runtime(self):
        """The runtime that runs this variant on the board (manifests before runtimes
        were a choice were all ONNX)."""
        return self.manifest.get("runtime") or "onnxruntime"

    @property
    def io_names(self):
        """The original model's input and output names, by position, for a file whose
        own tensors are named otherwise (a converted .tflite); None when they match."""
        return self.manifest.get("io_names")

    @property
    def sha256(self):
        return self.manifest["sha256"]

    @property
    def flags(self):
        """What makes this variant other than its recipe asked for (accounting.FLAG_KINDS)."""
        return self.manifest.get("flags") or []


class StepFailed(ModelError):
    """One step of one variant failed: the variant is reported as failed, the run goes on."""

    def __init__(self, step, cause):
        super().__init__("step '%s' failed: %s" % (step, cause))
        self.step = step


def _cause(exc, scratch_folders):
    """A failure's first line, without the temporary paths it may mention."""
    text = exc.message if hasattr(exc, "message") else (str(exc).strip() or type(exc).__name__)
    first = text.splitlines()[0] if text.splitlines() else type(exc).__name__
    for folder in scratch_folders:
        first = first.replace(str(folder) + os.sep, "").replace(str(folder), "<scratch>")
    return first[:300]


def _failed(spec, reason):
    return Variant(spec.name, None, {"name": spec.name, "technique": spec.technique, "size_bytes": None,
                                     "failure": reason, "flags": [], "format": spec.format,
                                     "runtime": spec.runtime}, failure=reason)


def default_specs(reduce_range=False):
    """The default grid: the baseline and the post-training quantizations."""
    return [
        VariantSpec.build("fp32", "fp32"),
        VariantSpec.build("fp16", "fp16"),
        VariantSpec.build("int8-dynamic", "int8-dynamic", reduce_range=reduce_range),
        VariantSpec.build("int8-static", "int8-static", reduce_range=reduce_range),
    ]


def tflite_specs(float_source=True, given=False):
    """The TensorFlow Lite grid: the float model (``given``: the user's .tflite, named
    ``as-given``, whatever its precision) and ai-edge-quantizer's post-training recipes
    (none for a model that is already quantized)."""
    specs = [VariantSpec.build("as-given" if given else "tflite-fp32", "tflite")]
    if float_source:
        specs += [VariantSpec.build("tflite-fp16", "tflite-fp16"),
                  VariantSpec.build("tflite-int8-dynamic", "tflite-int8-dynamic"),
                  VariantSpec.build("tflite-int8-weights", "tflite-int8-weights"),
                  VariantSpec.build("tflite-int8-static", "tflite-int8-static")]
    return specs


def _hash_arrays(arrays):
    digest = hashlib.sha256()
    for name in sorted(arrays):
        array = np.ascontiguousarray(arrays[name])
        digest.update(name.encode() + str(array.dtype).encode() + str(array.shape).encode())
        digest.update(array.tobytes())
    return digest.hexdigest()


def dataset_hash(dataset):
    """One hash over all the data a variant's bytes or figures can depend on: evaluation
    and calibration inputs, labels, inputs given once for every sample, and the axes the
    samples are fed at."""
    arrays = {"evaluation/" + name: values for name, values in dataset.inputs.items()}
    arrays.update({"calibration/" + name: values for name, values in dataset.calibration.items()})
    if dataset.labels is not None:
        arrays["labels"] = np.asarray(dataset.labels)
    constants = getattr(dataset, "constants", None) or {}
    arrays.update({"constant/" + name: np.asarray(value) for name, value in constants.items()})
    axes = getattr(dataset, "axes", None) or {}
    arrays.update({"axis/" + name: np.asarray(axis) for name, axis in axes.items() if axis})
    return _hash_arrays(arrays)


def _data_record(dataset, data_sha):
    """Which data every figure of a manifest used (manifest "data")."""
    return {"sha256": data_sha, "source": dataset.source, "synthetic": dataset.synthetic,
            "evaluation_samples": dataset.count,
            "calibration_samples": len(next(iter(dataset.calibration.values()))) if dataset.calibration else 0,
            "labelled": dataset.labels is not None,
            "constants": sorted(getattr(dataset, "constants", None) or {})}


def _versions(with_torch=False, with_tflite=False):
    import onnxruntime

    versions = {"edgeshrink": host.__version__, "onnxruntime": onnxruntime.__version__}
    if with_torch:
        import torch
        import torch_pruning

        versions.update(torch=torch.__version__, torch_pruning=torch_pruning.__version__)
    if with_tflite:
        from importlib.metadata import PackageNotFoundError, version

        for package in ("litert-torch", "ai-edge-quantizer", "ai-edge-litert"):
            try:
                versions[package] = version(package)
            except PackageNotFoundError:
                versions[package] = None
    return versions


def _uses_torch(spec, source_is_tflite):
    """Whether the variant's bytes come from the PyTorch model (its steps, or its
    conversion to TFLite)."""
    return bool(spec.torch_steps) or (bool(spec.tflite_steps) and not source_is_tflite)


def cache_key(source_sha, spec, data_sha, torch_source=None, preparation=(), metric_specs=None,
              source_is_tflite=False):
    """``data_sha`` is ``dataset_hash``: every variant's manifest holds figures computed on
    the data, judged by ``metric_specs`` (part of the key when given)."""
    uses_torch = _uses_torch(spec, source_is_tflite)
    key = {"source": source_sha, "steps": [s.to_dict() for s in spec.steps], "data": data_sha,
           "torch": torch_source.state_sha if uses_torch else None,
           "train": _hash_arrays({"x": torch_source.train_x, "y": torch_source.train_y})
           if uses_torch and torch_source.has_training_data else None,
           "versions": _versions(uses_torch, bool(spec.tflite_steps))}
    if preparation and not uses_torch:
        # What preparing the source did; absent for a model that needed nothing, so the
        # keys of variants made before preparation existed still hold.
        key["prepared"] = list(preparation)
    if metric_specs:
        # What judges each output, not who chose it.
        key["metrics"] = [dict(m.to_dict(), chosen_by=None) for m in metric_specs]
    return hashlib.sha256(json.dumps(key, sort_keys=True).encode()).hexdigest()[:32]


def _alive(pid):
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True   # someone else's live process
    return True


def _remove_dead_staging(root):
    """Staging folders (``<key>.tmp<pid>``) of runs that were killed mid-build."""
    for entry in root.iterdir():
        match = re.search(r"\.tmp(\d+)$", entry.name)
        if match and entry.is_dir() and not _alive(int(match.group(1))):
            shutil.rmtree(entry, ignore_errors=True)


def make_variants(source, dataset, specs, cache_dir=None, log=print, torch_source=None, metric_specs=None,
                  references=None, on_variant=None, executor=None):
    """Make (or fetch from the cache) every variant in ``specs`` for the ONNX ``source``;
    host-side fidelity judges each output by ``metric_specs`` (host/metrics.resolve) against
    ``references``, the source's outputs when the caller has them (else they are computed).
    The variants not cached are independent jobs run by ``executor`` (an ExecutorChoice:
    this process by default, a process pool, or Ray); the cache and the results are the
    same whichever runs them. ``on_variant(done, total, name)`` is told as variants are
    taken from the cache or finished, and when all are done."""
    on_variant = on_variant or (lambda done, total, name: None)
    executor = executor or executors.ExecutorChoice()
    source = Path(source)
    source_is_tflite = tflite_model.is_tflite(source)
    _check_makeable(source, source_is_tflite, specs, torch_source)
    source_sha = modelinfo.sha256_file(source)
    source_info = accounting.describe(source, input_shapes=dataset.feed_shapes())
    data_sha = dataset_hash(dataset)
    root = Path(cache_dir) if cache_dir else paths.cache_dir() / "variants"
    root.mkdir(parents=True, exist_ok=True)
    _remove_dead_staging(root)
    prepared = (prepare.as_given_tflite(source) if source_is_tflite
                else prepare.prepare(source, root / "prepared" / source_sha[:32]))
    for step in prepared.steps:
        log("prepare: %s %s" % (step["step"], json.dumps(step["details"], sort_keys=True)))
    made: List[Optional[Variant]] = [None] * len(specs)
    to_build = []   # (position, folder, spec)
    for position, spec in enumerate(specs):
        refused = prepared.refuses(s.technique for s in spec.steps)
        if refused:
            log("compress: %s not made: %s" % (spec.name, refused))
            made[position] = _failed(spec, refused)
            continue
        folder = root / cache_key(source_sha, spec, data_sha, torch_source,
                                  [step["step"] for step in prepared.steps], metric_specs, source_is_tflite)
        made[position] = _cached(folder, spec, log)
        if made[position] is None:
            to_build.append((position, folder, spec))
    done = len(specs) - len(to_build)
    if to_build:
        on_variant(done, len(specs), ", ".join(spec.name for _, _, spec in to_build[:executor.jobs]))
        context = BuildContext(source, prepared, source_sha, source_info, dataset, data_sha, torch_source,
                               accounting.reference(source, dataset, metric_specs, references), root / "exports")
        finished = []

        def one_done(index, outcome):
            position, folder, spec = to_build[index]
            for line in outcome.log_lines:   # a worker's lines, now that its variant is done
                log(line)
            if outcome.error is not None:
                # One variant failing is a result about that variant; the others still run.
                log("compress: %s failed: %s" % (spec.name, outcome.error))
                made[position] = _failed(spec, outcome.error)
            else:
                made[position] = Variant(spec.name, folder / _file_name(spec),
                                         json.loads((folder / "manifest.json").read_text()))
            finished.append(index)
            waiting = [s.name for i, (_, _, s) in enumerate(to_build) if i not in finished]
            on_variant(done + len(finished), len(specs), ", ".join(waiting[:executor.jobs]) or None)

        executors.run(build_one, context, [(folder, spec) for _, folder, spec in to_build], executor, log,
                      one_done)
    on_variant(len(specs), len(specs), None)
    return made


@dataclass
class BuildContext:
    """What every variant of one source is made from: sent once to each worker."""
    source: Path
    prepared: "prepare.PreparedModel"
    source_sha: str
    source_info: dict
    dataset: object
    data_sha: str
    torch_source: object
    reference: object
    exports: Path          # float .tflite exports, one per PyTorch model (float_export.py)


def build_one(context, job, log):
    """Make one variant into its cache folder (a job for executors.run): StepFailed says why not."""
    folder, spec = job
    log("compress: %s (%s)" % (spec.name, spec.technique))
    with tempfile.TemporaryDirectory(prefix="edgeshrink-") as scratch:
        _build_into(folder, spec, context, Path(scratch), log)


def _check_makeable(source, source_is_tflite, specs, torch_source):
    """Every variant can be made from this source, or one UsageError saying why not."""
    if source_is_tflite:
        tflite_model.check(source)   # fail early and clearly on a bad file
        for spec in specs:
            if not spec.tflite_steps:
                raise UsageError("variant '%s' (%s) needs an ONNX or PyTorch model, but the model is a TensorFlow "
                                 "Lite file; its variants are TFLite steps (tflite, tflite-fp16, "
                                 "tflite-int8-dynamic, tflite-int8-weights, tflite-int8-static)"
                                 % (spec.name, spec.technique))
        return
    modelinfo.load(source)  # fail early and clearly on a bad file
    for spec in specs:
        if spec.torch_steps and torch_source is None:
            raise UsageError("variant '%s' has PyTorch steps (%s) but the model is an ONNX file; "
                             "use the demo or give the PyTorch model with --torch module:function"
                             % (spec.name, ", ".join(s.technique for s in spec.torch_steps)))
        if spec.tflite_steps and torch_source is None:
            raise UsageError("variant '%s' is a TensorFlow Lite variant, which edgeshrink makes from a PyTorch "
                             "model (litert-torch), but the model is an ONNX file; use the demo, give the PyTorch "
                             "model with --torch module:function, or pass a .tflite file" % spec.name)


def _file_name(spec):
    return "model." + spec.format


def _cached(folder, spec, log):
    """The variant already made in ``folder``; None when absent or cut short when made."""
    if not (folder / "manifest.json").exists():
        return None
    manifest = json.loads((folder / "manifest.json").read_text())
    # Made before runtimes were a choice: the chain says its format all the same.
    manifest.setdefault("format", spec.format)
    manifest.setdefault("runtime", spec.runtime)
    if not accounting.made_under_time_pressure(manifest):
        return Variant(spec.name, folder / _file_name(spec), manifest, cached=True)
    log("compress: %s was cut short by a time limit when it was made: making it again" % spec.name)
    shutil.rmtree(folder, ignore_errors=True)
    return None


def _run_chain(spec, source, dataset, staging, workdir, torch_source, log, exports):
    """Apply every step; returns the final file and each step's record. ``exports``: where
    the unchanged PyTorch model's float .tflite is kept for all its TFLite variants."""
    records, current = [], Path(source)
    torch_steps = spec.torch_steps
    suffix = "." + spec.format
    if torch_steps:
        from ..torch_export import export_onnx
        from .torch_steps import TorchWork

        first_input = list(dataset.calibration)[0]
        work = TorchWork(torch_source.fresh(), torch_source.fresh(), torch_source,
                         dataset.calibration[first_input], log)
        for step in torch_steps:
            started = time.time()
            details = _step(step, (staging, workdir), registry.get(step.technique).generate, work, step.options)
            records.append(dict(step.to_dict(), seconds=round(time.time() - started, 3), details=details))
        if spec.format == "onnx":
            current = export_onnx(work.model, torch_source.input_shape, staging / "exported.onnx",
                                  torch_source.input_name, torch_source.output_name)
    if spec.tflite_steps and (torch_steps or not tflite_model.is_tflite(source)):
        current, record = _to_tflite(work.model if torch_steps else None, torch_source, staging, workdir, exports)
        records.append(record)
    start = current   # what the file-level steps start from
    file_steps = spec.steps[len(torch_steps):]
    for index, step in enumerate(file_steps):
        output = staging / ("step%d%s" % (index, suffix))
        started = time.time()
        generate = registry.get(step.technique).generate
        details = _step(step, (staging, workdir), generate, current, output, step.options, dataset, workdir,
                        **_progress_log(generate, log))
        records.append(dict(step.to_dict(), seconds=round(time.time() - started, 3), details=details))
        current = output
    final = staging / ("model" + suffix)
    if current == Path(source):
        shutil.copyfile(current, final)
    else:
        os.replace(current, final)
    for leftover in staging.glob("*" + suffix):
        if leftover not in (final, start):
            leftover.unlink()
    return final, records, start


def _to_tflite(changed, torch_source, staging, workdir, exports):
    """The PyTorch model as a float32 .tflite (litert-torch), and the lineage record of
    the conversion. ``changed``: the model after PyTorch steps, converted for this variant
    alone; None for the unchanged model, whose export every such variant shares."""
    from ..tflite_export import export_tflite

    started = time.time()
    target = staging / "exported.tflite"
    conversion = Step("tflite-export", None)
    details = {"converter": "litert-torch", "layout": "inputs and outputs as in PyTorch (NCHW)"}
    if changed is not None:
        _step(conversion, (staging, workdir), export_tflite, changed, torch_source.input_shape, target)
    else:
        folder = exports / float_export.export_key(torch_source, _versions(True, True))
        reused = _step(conversion, (staging, workdir), float_export.float_tflite, torch_source, folder, target,
                       export_tflite)
        details["export"] = "reused: made for another variant of this model" if reused else "made"
    return target, {"technique": "tflite-export", "options": {}, "seconds": round(time.time() - started, 3),
                    "details": details}


def _progress_log(generate, log):
    """``log=`` for an ONNX generator that reports progress (a long search such as
    mixed-precision); the plain contract (registry.py) for the others."""
    return {"log": log} if "log" in inspect.signature(generate).parameters else {}


def _step(step, scratch_folders, generate, *args, **keywords):
    """Run one step's generator; any failure becomes StepFailed naming the step.

    A UsageError is the user's request being impossible (the whole command stops); a
    KeyboardInterrupt is not a failure of the step.
    """
    try:
        return generate(*args, **keywords)
    except UsageError:
        raise
    except Exception as exc:  # third-party libraries fail in many ways; each is about this variant
        raise StepFailed(step.technique, _cause(exc, scratch_folders))


def _check_produced(final, spec, scratch_folders):
    """The variant edgeshrink produced must itself be a loadable model: if not, that is a
    failure of the last step, not of the user's file."""
    try:
        tflite_model.check(final) if spec.format == "tflite" else modelinfo.load(final)
    except ModelError as exc:
        last = spec.steps[-1].technique
        raise StepFailed(last, "it produced a graph that is not a valid %s model (%s); the source model is "
                         "fine and the other variants are unaffected"
                         % ("TensorFlow Lite" if spec.format == "tflite" else "ONNX", _cause(exc, scratch_folders)))


def _io_names(source):
    """The source model's input and output names, in order."""
    if tflite_model.is_tflite(source):
        return {"inputs": [t.name for t in tflite_model.inputs(source)],
                "outputs": [t.name for t in tflite_model.outputs(source)]}
    model = modelinfo.load(source)
    return {"inputs": [t.name for t in modelinfo.inputs(model)], "outputs": [t.name for t in modelinfo.outputs(model)]}


def _build_into(folder, spec, context, workdir, log):
    """Make one variant in a staging folder and rename it into place: complete or absent."""
    source, prepared, source_sha, source_info = context.source, context.prepared, context.source_sha, \
        context.source_info
    dataset, data_sha, torch_source, reference = context.dataset, context.data_sha, context.torch_source, \
        context.reference
    staging = folder.with_name("%s.tmp%d" % (folder.name, os.getpid()))
    shutil.rmtree(staging, ignore_errors=True)
    staging.mkdir()
    try:
        started = time.time()
        final, lineage, start = _run_chain(spec, prepared.path, dataset, staging, workdir, torch_source, log,
                                           context.exports)
        if not spec.torch_steps and spec.format == "onnx":  # an ONNX chain starts from the prepared model
            lineage = [{"technique": "prepare", "options": {}, "seconds": 0.0, "details": step}
                       for step in prepared.steps] + lineage
        _check_produced(final, spec, (staging, workdir))
        uses_data = any(s.technique in _DATA_STEPS for s in spec.steps)
        manifest = {
            "name": spec.name, "technique": spec.technique,
            "options": opts.to_dict(spec.steps[-1].options) if len(spec.steps) == 1 else None,
            "lineage": lineage,
            "source": {"path": str(source), "sha256": source_sha, **source_info},
            "calibration": {"sha256": _hash_arrays(dataset.calibration), "source": dataset.source}
            if uses_data else None,
            # The data every figure below was computed on (and the cache key holds).
            "data": _data_record(dataset, data_sha),
            # Which samples calibrated and which evaluated (host_fidelity below): never the same ones.
            "data_split": dataset.split.to_dict() if dataset.split else None,
            "compress_seconds": round(time.time() - started, 3),
            "versions": _versions(_uses_torch(spec, tflite_model.is_tflite(source)), bool(spec.tflite_steps)),
            "cache_key": folder.name,
            "format": spec.format, "runtime": spec.runtime,
            # A converted .tflite names its tensors its own way (serving_default_args_0):
            # the board and the host call them by the original model's names, by position.
            "io_names": _io_names(source) if spec.format == "tflite" else None,
        }
        try:
            described = accounting.describe(final, source_info, dataset.feed_shapes())
            manifest.update(described)
            manifest["host_fidelity"] = _fidelity_on(
                accounting.fidelity(final, dataset, reference, manifest["io_names"]), dataset, data_sha)
        except ModelError as exc:
            raise StepFailed(spec.steps[-1].technique, "the graph it produced does not run on the host (%s); "
                             "the source model is fine" % _cause(exc, (staging, workdir)))
        if spec.format == "tflite":
            # A TFLite quantizer is judged against the float .tflite it quantized (one
            # runtime against itself), not against the ONNX or PyTorch original.
            checked_against, against_info = start, tflite_model.describe(start)
        else:
            checked_against, against_info = source, source_info
        manifest["host_timing"], manifest["flags"] = _checks(lineage, checked_against, final, against_info,
                                                             described, dataset, manifest["io_names"])
        if start.parent == staging and start != final and start.exists():
            start.unlink()   # the float .tflite a TFLite step quantized: not part of the variant
        (staging / "manifest.json").write_text(json.dumps(manifest, indent=2, sort_keys=True))
        os.rename(staging, folder)
    except OSError:
        if not (folder / "manifest.json").exists():
            raise
        # Made concurrently by another run from identical inputs: keep theirs.
    finally:
        shutil.rmtree(staging, ignore_errors=True)


def _fidelity_on(fidelity, dataset, data_sha):
    """The host fidelity record, saying which data it was computed on."""
    if fidelity is None:
        return None
    return dict(fidelity, data={"sha256": data_sha, "set": "evaluation", "source": dataset.source,
                                "synthetic": dataset.synthetic,
                                "samples": min(accounting.FIDELITY_SAMPLES, dataset.count)})


def _checks(lineage, source, final, source_info, described, dataset, io_names=None):
    """(host timing or None, flags): the flags the steps raised, and for a quantized
    variant a side-by-side host timing and the larger/slower checks against its source."""
    flags = accounting.lineage_flags(lineage)
    quantizing = [r["technique"] for r in lineage if r["technique"] in prepare.QUANTIZING_STEPS]
    if not quantizing:
        return None, flags
    timing = accounting.host_timing(source, final, dataset, io_names)
    return timing, flags + accounting.quantized_flags(quantizing[-1], source, final, source_info, described, timing)
