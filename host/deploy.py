"""The jobs behind the CLI: compress, bench, select, install, deploy, status.

Each job validates everything it can before it touches a device or the results
store, so bad input changes nothing. Progress goes to an ``on_event`` callback
(the CLI renders it live); results come back as plain dicts.
"""

import time
from dataclasses import dataclass
from pathlib import Path
from typing import Callable, Dict, List, Optional

from ..shared.conventions import EventKind, Op
from ..shared.decision import InstallOutcome
from ..shared.device_facts import DeviceFacts
from ..shared.errors import ConstraintError, ProtocolError, RemoteError, StoreError, UsageError
from ..shared.measurement import COMPRESSION_FAILED, SCHEMA_VERSION, VariantError, VariantMeasurement
from ..shared.records import type_problems
from ..shared.sustained import SustainedRun
from ..shared.types import BenchSettings
from ..shared.task_metrics import MetricSpec
from . import agent_bundle, dataset as datasets, host_meter, input_shapes, metrics as task_metrics, modelinfo, paths
from . import explain, push, spool, tflite_model
from .compress import variants as variant_maker
from .connectors import for_device
from .runs import Run, VariantResult
from .select import select, too_noisy_to_decide
from .session import AgentSession
from .store import ResultsStore


def _quiet(*args, **kwargs):
    pass


@dataclass
class ConnectOptions:
    """How to reach and share a device: host key policy, how long to wait for its lock."""

    accept_new_host_key: bool = False
    lock_timeout_s: float = 600.0


def open_session(device, options=None):
    options = options or ConnectOptions()
    return AgentSession(for_device(device, accept_new_host_key=options.accept_new_host_key),
                        agent_bundle.build())


@dataclass
class ModelSource:
    path: Path                      # the model (ONNX or .tflite) every variant is compared with
    name: str
    dataset: datasets.Dataset
    demo_meta: Optional[dict] = None
    # () -> TorchSource, when module-level steps are possible; called only when a variant
    # needs it, so ONNX-only work never imports torch.
    torch_loader: Optional[Callable] = None
    # The original model's outputs on every evaluation sample, and each output's metric.
    references: Dict = None
    metrics: List[MetricSpec] = None

    def judged(self, given=None):
        """This source with its reference outputs computed and a metric for every output."""
        self.references = datasets.model_outputs(self.path, self.dataset)
        if self.references is None:
            raise UsageError("the data's inputs (%s) are not the model's" % ", ".join(
                list(self.dataset.inputs) + list(self.dataset.constants)))
        self.metrics = task_metrics.resolve(self.references, given or {})
        return self


def resolve_model(model_path=None, data_path=None, log=_quiet, torch_factory=None, input_shape=None,
                  train_data=None, metrics=None):
    """The model to compress (the bundled demo when none is given), its data, and the
    metric each output is judged by (``metrics``: the user's, from host/metrics.parse).

    ``torch_factory`` (``module:function``) gives a PyTorch model instead: it is
    exported once to ONNX as the baseline, and module-level steps can apply to it.
    """
    source = _resolve_source(model_path, data_path, log, torch_factory, input_shape, train_data)
    source.judged(metrics)
    for spec in source.metrics:
        log("metric: output '%s': %s, %s" % (spec.output, spec.describe(), spec.chosen_by or "given"))
    return source


def _resolve_source(model_path, data_path, log, torch_factory, input_shape, train_data):
    shapes = input_shape or input_shapes.InputShapes()
    if torch_factory is not None:
        return _resolve_torch(torch_factory, _torch_shape(shapes), data_path, train_data, log)
    if model_path is None:
        if shapes:
            raise UsageError("--input-shape is for a model of your own; the demo's input is fixed")
        from .compress.torch_source import from_demo
        from .demo.build import ensure_demo

        demo = ensure_demo(log=log)
        return ModelSource(demo.onnx_path, demo.meta["name"], datasets.from_demo(demo), demo.meta,
                           torch_loader=lambda: from_demo(demo))
    path = Path(model_path)
    found = tflite_model.inputs(path) if tflite_model.is_tflite(path) else modelinfo.inputs(modelinfo.load(path))
    specs = input_shapes.resolve(found, shapes, have_data=data_path is not None)
    data = datasets.load_for(specs, data_path=data_path)
    for warning in data.warnings:
        log("warning: " + warning)
    return ModelSource(path, path.stem, data)


def _torch_shape(shapes):
    """A --torch model has one input: its shape, however it was given."""
    if shapes.unnamed is not None:
        return shapes.unnamed
    if len(shapes.named) == 1:
        return next(iter(shapes.named.values()))
    if shapes.named:
        raise UsageError("--torch models take one input: give one --input-shape")
    return None


def _resolve_torch(factory, input_shape, data_path, train_data, log):
    from .compress.torch_source import from_factory
    from .torch_export import export_onnx

    if not input_shape:
        raise UsageError("--torch needs --input-shape, e.g. 1,3,224,224")
    train_x = train_y = None
    if train_data:
        import numpy as np

        with np.load(train_data) as arrays:
            if "x" not in arrays.files or "y" not in arrays.files:
                raise UsageError("%s needs arrays 'x' (inputs) and 'y' (labels)" % train_data)
            train_x, train_y = arrays["x"].astype("float32"), arrays["y"]
    source = from_factory(factory, input_shape, train_x, train_y)
    folder = paths.cache_dir() / "torch" / source.state_sha[:16]
    folder.mkdir(parents=True, exist_ok=True)
    onnx_path = folder / "model.onnx"
    if not onnx_path.exists():
        export_onnx(source.fresh(), source.input_shape, folder / "model.tmp.onnx", source.input_name,
                    source.output_name)
        (folder / "model.tmp.onnx").replace(onnx_path)
    data = datasets.load_for(modelinfo.inputs(modelinfo.load(onnx_path)), data_path=data_path)
    for warning in data.warnings:
        log("warning: " + warning)
    return ModelSource(onnx_path, Path(factory).stem if factory.endswith((".pt", ".pth", ".pt2"))
                       else factory.replace(":", "."), data, torch_loader=lambda: source)


def compress(source, specs=None, log=_quiet, on_variant=None, executor=None):
    specs = specs or variant_maker.default_specs()
    # Module-level steps, and TFLite variants of a model that is not a .tflite, start
    # from the PyTorch model.
    needs_torch = any(spec.torch_steps or spec.tflite_steps for spec in specs)
    torch_source = source.torch_loader() if needs_torch and source.torch_loader else None
    return variant_maker.make_variants(source.path, source.dataset, specs, log=log, torch_source=torch_source,
                                       metric_specs=source.metrics, references=source.references,
                                       on_variant=on_variant, executor=executor)


def default_grid(source, runtimes, reduce_range=False, asked=True, log=_quiet):
    """The built-in variants for each runtime, in the order given: ONNX Runtime's
    precisions, then TFLite's (a .tflite model only TFLite's, and only the model as given
    when it is already quantized). A runtime this model cannot have variants for is an
    error when the user ``asked`` for it (--runtime), and skipped with a log line when it
    only comes from a device's list."""
    given_tflite = tflite_model.is_tflite(source.path)
    specs = []
    for runtime in runtimes:
        if runtime == "tflite" and (given_tflite or source.torch_loader is not None):
            specs += variant_maker.tflite_specs(tflite_model.is_float(source.path) if given_tflite else True,
                                                given=given_tflite)
        elif runtime == "onnxruntime" and not given_tflite:
            specs += variant_maker.default_specs(reduce_range)
        elif runtime == "tflite":
            why = ("TensorFlow Lite variants are made from a PyTorch model (litert-torch), and %s is an ONNX file"
                   % source.path)
            if asked:
                raise UsageError(why, "use the demo, give the PyTorch model with --torch module:function, or "
                                      "pass a .tflite file")
            log("tflite: no variants: " + why)
        else:
            raise UsageError("%s is a TensorFlow Lite model: it runs on the tflite runtime, not %s"
                             % (source.path, runtime), "pass --runtime tflite, or give the ONNX or PyTorch model")
    return specs


def fit_recipe(source, specs, measured=()):
    """A recipe's variants for this source. A recipe always brings the baseline accuracy
    drops are measured against: the ONNX fp32 model; for a .tflite model, the model as
    given. ``measured``: each device's runtimes. A device that runs the recipe's TFLite
    variants but not ONNX Runtime would have no baseline, so it gets the float TFLite
    export beside (or, when no device runs ONNX Runtime, instead of) the ONNX one."""
    if tflite_model.is_tflite(source.path):
        return [variant_maker.tflite_specs(given=True)[0] if spec.technique == "fp32" else spec for spec in specs]
    float_tflite = variant_maker.tflite_specs()[0]
    lacking = [runtimes for runtimes in measured if "tflite" in runtimes and "onnxruntime" not in runtimes]
    wanted = (lacking and source.torch_loader is not None and any(spec.runtime == "tflite" for spec in specs)
              and not any(spec.technique == float_tflite.technique or spec.name == float_tflite.name
                          for spec in specs))
    if not wanted:
        return specs
    onnx_measured = any("onnxruntime" in runtimes for runtimes in measured)
    fitted = []
    for spec in specs:
        if spec.technique != "fp32":
            fitted.append(spec)
            continue
        fitted += ([spec] if onnx_measured else []) + [float_tflite]
    return fitted


def _deployment_name(variant):
    return "%s-%s" % (variant.name, variant.sha256[:12])


def require_runtime(session, runtime=None):
    """Refuse early, with what to install, when the board lacks a runtime (the device's
    first by default)."""
    device = session.device
    runtime = runtime or device.runtime
    facts = DeviceFacts.from_dict(session.hello.facts)
    probe = facts.runtimes.get(runtime)
    if probe is None:
        raise RemoteError("device '%s': the agent does not know runtime '%s' (it knows: %s)"
                          % (device.name, runtime, ", ".join(facts.runtimes)))
    if not probe.available:
        raise RemoteError("device '%s': %s for %s on the device" % (
            device.name, probe.reason or (runtime + " is missing"),
            facts.python_executable or "its Python"),
            "run `edgeshrink devices setup %s`, or on the board: %s"
            % (device.name, probe.install_hint or ("pip install " + runtime)))


def variants_for(device, variants, runtimes=None):
    """The variants this device measures: those its runtimes run (devices.toml
    ``runtime``, or --runtime; ``runtimes`` overrides both). None at all is a mistake in
    the request, said in one line."""
    runtimes = runtimes or device.runtimes
    chosen = [v for v in variants if v.runtime in runtimes]
    if variants and not chosen:
        made_for = sorted({v.runtime for v in variants})
        raise UsageError("device '%s' runs %s, but the variants are for %s" % (
            device.name, " and ".join(runtimes), " and ".join(made_for)),
            "pass --runtime %s, or list it in the device's runtime in devices.toml" % made_for[0])
    return chosen


def ship(session, source, made, on_event=_quiet):
    """Refuse early when the board lacks a runtime ``made`` needs, then push what it lacks
    of those variants and of the evaluation data. Returns (the data's sha256, PushSummary)."""
    device = session.device
    for runtime in sorted({v.runtime for v in made}) or [device.runtime]:
        require_runtime(session, runtime)
    if source.metrics is None:
        source.judged()   # a source assembled by its caller: judge every output by its default
    eval_path, eval_sha = datasets.evaluation_file(source.dataset, source.references, source.metrics,
                                                   paths.cache_dir() / "data")
    files = {v.sha256: v.path for v in made}
    files[eval_sha] = eval_path
    on_event(device.name, "push", {"files": len(files)})
    summary = push.push(session, files)
    summary.bytes_sent += session.agent_bytes_sent
    on_event(device.name, "pushed", summary.to_dict())
    return eval_sha, summary


def measure(session, source, variants, settings, on_event=_quiet, lock_timeout_s=600.0, runtimes=None):
    """Push what the device lacks, have the agent measure every variant; no storing.
    ``runtimes``: which variants to measure, instead of the device's runtime list."""
    device = session.device
    variants = variants_for(device, variants, runtimes)
    made = [v for v in variants if v.ok]   # a variant that could not be made has nothing to measure
    eval_sha, summary = ship(session, source, made, on_event)
    run = Run(device=device.name, started_at=time.time(), model_path=str(source.path),
              model_sha256=modelinfo.sha256_file(source.path), settings=settings.to_dict(),
              constraints=device.constraints.to_dict(), facts=DeviceFacts.from_dict(session.hello.facts),
              push=dict(summary.to_dict(), agent_sent=session.agent_bytes_sent), evaluation_blob=eval_sha)
    measured = {}
    _bench_call(session, source, made, eval_sha, settings, lock_timeout_s, on_event, measured)
    run.variants = [VariantResult(v.name, v.manifest, measured[v.name] if v.ok else _not_made(v)) for v in variants]
    run.finished_at = time.time()
    return run


def _bench_call(session, source, made, eval_sha, settings, lock_timeout_s, on_event, measured):
    """Have the agent measure ``made`` (already pushed) into ``measured`` by name."""
    device = session.device
    meter = _start_host_meter(session, settings, on_event)

    def relay(kind, data):
        if kind == EventKind.MEASUREMENT:
            measurement = task_metrics.apply_custom(_measurement(device.name, data, {v.name for v in made}),
                                                    source.metrics, source.references)
            measured[measurement.variant] = measurement
        on_event(device.name, kind, data)

    try:
        result = session.call(Op.BENCH, {"variants": [bench_entry(v) for v in made],
                                         "data_blob": eval_sha, "runtime": device.runtime,
                                         "settings": settings.to_dict(), "lock_timeout_s": lock_timeout_s,
                                         "power": device.power.to_dict()},
                              on_event=relay)
        if isinstance(meter, host_meter.HostMeterRun):
            meter.idle_after_w = meter.idle(settings.idle_s)
    finally:
        if isinstance(meter, host_meter.HostMeterRun):
            meter.stop()
    missing = [v.name for v in made if v.name not in measured]
    if missing:
        raise ProtocolError("device '%s': the agent finished without measuring %s" % (device.name, ", ".join(missing)))
    idle_after = _idle_after_w(result)
    for measurement in measured.values():
        if isinstance(meter, host_meter.HostMeterRun):
            measurement.power = meter.power_of(measurement)
        elif meter is not None:
            measurement.power = host_meter.not_measured(meter)
        elif measurement.power.measured:
            measurement.power.idle_after_w = idle_after


def bench_entry(variant):
    """A variant as the agent's bench op takes it: its blob, its runtime, and for a file
    that names its tensors otherwise, the original model's names."""
    entry = {"name": variant.name, "blob": variant.sha256, "runtime": variant.runtime}
    if variant.io_names:
        entry["io_names"] = variant.io_names
    return entry


def _start_host_meter(session, settings, on_event):
    """The host-side meter of a device that has one, started, its idle baseline taken and
    the agent's clock linked; a reason string when it cannot run; None for no host meter."""
    config = session.device.power
    if config.where != "host":
        return None
    if not settings.sample_power:
        return "power sampling was turned off (sample_power = false)"
    try:
        run = host_meter.HostMeterRun.start(config)
    except host_meter.MeterError as exc:
        return str(exc)
    try:
        run.link = host_meter.clock_link(session)
        on_event(session.device.name, "log", {"message": "host meter: idle baseline for %.1f s (link delay +/-%.2f ms)"
                                              % (settings.idle_s, 1000 * run.link.half_rtt_s)})
        run.idle_w = run.idle(settings.idle_s)
    except BaseException:
        run.stop()
        raise
    return run


def _idle_after_w(result):
    """The agent's idle baseline after the last variant, when it measured one."""
    idle = result.get("idle") if isinstance(result, dict) else None
    after = idle.get("after") if isinstance(idle, dict) else None
    value = after.get("mean_w") if isinstance(after, dict) else None
    return float(value) if isinstance(value, (int, float)) and not isinstance(value, bool) else None


MORE_SAMPLES_FACTOR = 4


def _more_samples(settings):
    """The settings of a second, longer pass: more runs and time, within the time limit;
    None when the limits leave no room for more."""
    wider = BenchSettings.from_dict(dict(
        settings.to_dict(), min_runs=min(settings.max_runs, settings.min_runs * MORE_SAMPLES_FACTOR),
        min_time_s=min(settings.max_time_s, max(settings.min_time_s, 0.25) * MORE_SAMPLES_FACTOR),
        profile_runs=0))   # the first pass's profiles stand: where time goes did not change
    if (wider.min_runs, wider.min_time_s) == (settings.min_runs, settings.min_time_s):
        return None
    return wider


def measure_until_decided(session, source, variants, settings, constraints, on_event=_quiet, lock_timeout_s=600.0,
                          objective="latency"):
    """Measure and decide; when the winner's latency interval is too wide to rank on,
    measure the winner and its overlapping rivals once more with more samples (within
    max_time_s) and decide on those. The decision says what was re-measured and why."""
    run = measure(session, source, variants, settings, on_event, lock_timeout_s)
    decision = select(run.variants, constraints, objective=objective)
    again = too_noisy_to_decide(decision) if objective == "latency" else []
    wider = _more_samples(settings) if again else None
    if wider is None:
        if again:
            decision.notes.append("no more samples were taken: min_runs and min_time_s already equal max_runs "
                                  "and max_time_s (raise those limits to let edgeshrink take more)")
        decision.notes.extend(power_notes(run.variants))
        return run, explain.annotate(decision, run.variants, run.facts)
    chosen_before = decision.variant(decision.chosen)
    on_event(session.device.name, "log", {"message": "%s latency too noisy to decide (95%% CI %s ms): measuring %s "
                                          "again with >= %d runs and >= %.2f s" % (
                                              decision.chosen, chosen_before.latency_ci_ms, ", ".join(again),
                                              wider.min_runs, wider.min_time_s)})
    measured = {}
    _bench_call(session, source, [v for v in variants if v.name in again], run.evaluation_blob, wider,
                lock_timeout_s, on_event, measured)
    for result in run.variants:
        if result.name in measured:
            measured[result.name].operators = result.measurement.operators
            result.measurement = measured[result.name]
    run.finished_at = time.time()
    decision = select(run.variants, constraints, objective=objective)
    decision.notes.extend(power_notes(run.variants))
    decision.notes.append("re-measured %s with >= %d runs and >= %.2f s each: the first pass's %s interval "
                          "[%.3f, %.3f] ms was too wide to decide" % (
                              ", ".join(again), wider.min_runs, wider.min_time_s, chosen_before.name,
                              chosen_before.latency_ci_ms[0], chosen_before.latency_ci_ms[1]))
    return run, explain.annotate(decision, run.variants, run.facts)


IDLE_DRIFT_NOTE = 0.05


def power_notes(results):
    """What the decision should say about power: its source and boundary, and how far the
    idle baseline drifted between the first variant and the last."""
    measured = [r.measurement.power for r in results if r.measurement.power.measured]
    if not measured:
        reasons = sorted({r.measurement.power.reason for r in results if r.measurement.ok
                          and r.measurement.power.reason})
        return ["power not measured: %s" % reasons[0]] if reasons else []
    power = measured[0]
    notes = ["power from %s (%s, on the %s): %s" % (power.source, power.rail, power.where, power.boundary)]
    notes.extend("%s: %s" % (r.name, r.measurement.power.note) for r in results if r.measurement.power.note)
    if power.idle_w is not None and power.idle_after_w is not None and power.idle_w > 0:
        drift = power.idle_after_w / power.idle_w - 1
        notes.append("idle power %.3f W before the first variant, %.3f W after the last (%+.1f%%)%s" % (
            power.idle_w, power.idle_after_w, 100 * drift,
            ": the board drifted; net energies carry that much doubt" if abs(drift) > IDLE_DRIFT_NOTE else ""))
    return notes


def _not_made(variant):
    """The measurement of a variant that could not be made: failed, with the reason."""
    return VariantMeasurement(variant=variant.name, ok=False, schema=SCHEMA_VERSION,
                              error=VariantError(code=COMPRESSION_FAILED, message=variant.failure))


def _measurement(device_name, data, expected=None):
    """A measurement event, checked: the agent is a program on another machine, and a
    wrong type or NaN must be refused here, not crash a table later."""
    if not isinstance(data, dict):
        raise ProtocolError("device '%s': the agent sent a measurement that is not an object" % device_name)
    measurement = VariantMeasurement.from_dict(data)
    problems = type_problems(measurement)
    if problems:
        raise ProtocolError("device '%s': the agent sent a malformed measurement: %s"
                            % (device_name, "; ".join(problems[:3])))
    if expected is not None and measurement.variant not in expected:
        raise ProtocolError("device '%s': the agent sent a measurement of %r, which was not asked for"
                            % (device_name, measurement.variant))
    if measurement.schema > SCHEMA_VERSION:
        raise ProtocolError("device '%s': the agent sent measurement schema %d; this host reads up to %d"
                            % (device_name, measurement.schema, SCHEMA_VERSION), "upgrade edgeshrink on the host")
    return measurement


def install(session, variant, on_event=_quiet, lock_timeout_s=600.0, data_blob=None, source_path=None):
    """Install a variant; with ``data_blob`` (an evaluation file on the device) its health
    check runs a real sample at the shapes the measurement used. ``source_path``: where
    this host has the model the variant was made from (a cached variant's manifest names
    the path of whoever made it first; `regress` makes the source again from it)."""
    device = session.device
    require_runtime(session, variant.runtime)
    push.push(session, {variant.sha256: variant.path})
    manifest = dict(variant.manifest, installed_at=time.strftime("%Y-%m-%dT%H:%M:%S"))
    if source_path is not None and isinstance(manifest.get("source"), dict):
        manifest["source"] = dict(manifest["source"], path=str(source_path))
    return InstallOutcome.from_dict(session.call(
        Op.INSTALL, {"name": _deployment_name(variant), "blob": variant.sha256, "manifest": manifest,
                     "runtime": variant.runtime, "threads": device.threads, "lock_timeout_s": lock_timeout_s,
                     "data_blob": data_blob, "io_names": variant.io_names},
        on_event=lambda kind, data: on_event(device.name, kind, data)))


def deploy(device, source, variants, settings, store=None, do_install=True, on_event=_quiet, options=None):
    """Measure, decide, store, and install the winner. Returns the run.

    Raises ConstraintError (after storing the run) when nothing is feasible, and
    RemoteError when the winner failed its health check (the previous deployment stays active).
    """
    store = store or ResultsStore()
    options = options or ConnectOptions()
    store.check_usable()
    with open_session(device, options) as session:
        on_event(device.name, "connected", {"python": session.hello.python,
                                            "agent": session.hello.agent_version})
        run, run.decision = measure_until_decided(session, source, variants, settings, device.constraints, on_event,
                                                  options.lock_timeout_s, device.objective)
        on_event(device.name, "decision", run.decision)
        chosen = run.decision.chosen
        if chosen is None:
            run.status = "no_feasible_variant"
        run.run_id = _save(store, run)
        if chosen is None:
            raise ConstraintError("device '%s': no variant meets the constraints (run #%d; see the reasons above)"
                                  % (device.name, run.run_id),
                                  "relax [devices.%s.constraints] or add variants" % device.name, run_id=run.run_id)
        if do_install:
            winner = next(v for v in variants if v.name == chosen)
            outcome = install(session, winner, on_event, options.lock_timeout_s, run.evaluation_blob,
                              source.path)
            run.status = "installed" if outcome.installed else "check_failed"
            run.decision.install = outcome
            try:
                store.set_decision(run.run_id, run.decision, run.status)
            except StoreError as failure:
                raise spool.keep_decision(store, run.run_id, run.decision, run.status, failure) from None
            if not outcome.installed:
                raise RemoteError("device '%s': %s failed its health check (%s); it was not switched to, %s stays "
                                  "active"
                                  % (device.name, chosen, outcome.check_message, outcome.active or "nothing"),
                                  run_id=run.run_id)
    return run


def _save(store, run):
    """Store a measured run; if the store fails now, the run is spooled, never lost."""
    try:
        return store.save_run(run)
    except StoreError as failure:
        raise spool.keep_run(store, run, failure) from None


def bench(device, source, variants, settings, store=None, on_event=_quiet, options=None):
    """Measure and store, without choosing or installing."""
    store = store or ResultsStore()
    options = options or ConnectOptions()
    store.check_usable()
    with open_session(device, options) as session:
        run = measure(session, source, variants, settings, on_event, options.lock_timeout_s)
        run.run_id = _save(store, run)
    return run


def reselect(store, device, run_id=None):
    """Run selection again on stored results, with the device's current constraints."""
    stored = store.load_run(run_id=run_id, device=device.name)
    decision = select(stored.variants, device.constraints, objective=device.objective)
    decision.notes.extend(power_notes(stored.variants))
    explain.annotate(decision, stored.variants, stored.facts)
    return stored, decision


def made_variant(variants, name):
    """The variant called ``name`` that could be made, or a UsageError naming those that were."""
    made = [v for v in variants if v.ok]
    chosen = next((v for v in made if v.name == name), None)
    if chosen is None:
        raise UsageError("no variant named '%s' could be made (made: %s)" % (name, ", ".join(v.name for v in made)
                                                                            or "none"),
                         "pass --variant with one of those names")
    return chosen


def sustained(device, source, variant, settings, duration_s, bucket_s, on_event=_quiet, options=None):
    """Run one variant continuously on the device for ``duration_s``; its SustainedRun."""
    options = options or ConnectOptions()
    with open_session(device, options) as session:
        return sustained_in(session, source, variant, settings, duration_s, bucket_s, on_event, options)


def sustained_in(session, source, variant, settings, duration_s, bucket_s, on_event, options):
    """``sustained`` in an open session (profile runs one after its profiles)."""
    device = session.device
    eval_sha, _ = ship(session, source, [variant])
    data = session.call(Op.SUSTAINED, {
        "variant": bench_entry(variant), "data_blob": eval_sha,
        "runtime": variant.runtime, "settings": settings.to_dict(), "duration_s": float(duration_s),
        "bucket_s": float(bucket_s), "power": device.power.to_dict(), "lock_timeout_s": options.lock_timeout_s},
        on_event=lambda kind, event: on_event(device.name, kind, event))
    run = SustainedRun.from_dict(data) if isinstance(data, dict) else None
    problems = ["not an object"] if run is None else type_problems(run)
    if problems:
        raise ProtocolError("device '%s': the agent sent a malformed sustained run: %s"
                            % (device.name, "; ".join(problems[:3])))
    return run


def status(device, options=None):
    with open_session(device, options) as session:
        result = session.call(Op.STATUS)
        result["facts"] = session.hello.facts
        return result
