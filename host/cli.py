"""The ``edgeshrink`` command: parse, call the library in deploy.py, render.

Exit codes (also in README.md):
    0 success                       6 protocol mismatch with the agent
    1 internal error (a bug)        7 the agent failed (incl. rolled-back install)
    2 bad command line              8 model or data file missing/corrupt/unusable
    3 devices.toml problem          9 no variant meets the device's constraints
    4 cannot connect / start agent  10 results store unusable
    5 transfer failed               130 interrupted
"""

import functools
import json
import sys
from dataclasses import dataclass
from pathlib import Path
from typing import List, Optional

import typer

from ..shared.errors import ConstraintError, EdgeshrinkError, UsageError
from . import deploy as jobs
from . import fleet, inventory, paths, render
from .compress import recipe as recipe_loader
from .compress import variants as variant_maker
from .store import ResultsStore

app = typer.Typer(add_completion=False, no_args_is_help=True, pretty_exceptions_enable=False,
                  help="Compress a model into variants, measure each on the board, deploy the best.")
devices_app = typer.Typer(help="Inspect the devices in devices.toml.", no_args_is_help=True,
                          pretty_exceptions_enable=False)
app.add_typer(devices_app, name="devices")


class State:
    devices_file: Optional[Path] = None
    db: Optional[Path] = None
    debug = False


state = State()


def _one_line_errors(function):
    """Errors become one line on stderr and a documented exit code; --debug shows tracebacks."""
    @functools.wraps(function)
    def run(*args, **kwargs):
        try:
            return function(*args, **kwargs)
        except EdgeshrinkError as exc:
            if state.debug:
                raise
            render.err.print("edgeshrink: error: %s" % exc.one_line(), markup=False, highlight=False,
                             soft_wrap=True)
            raise typer.Exit(exc.exit_code)
        except KeyboardInterrupt:
            render.err.print("edgeshrink: interrupted")
            raise typer.Exit(130)
        except typer.Exit:
            raise
        except Exception as exc:  # a bug: one line; --debug shows the traceback
            if state.debug:
                raise
            render.err.print("edgeshrink: internal error: %s: %s (re-run with --debug for the traceback)"
                             % (type(exc).__name__, exc), markup=False, highlight=False,
                             soft_wrap=True)
            raise typer.Exit(1)
    return run


def command(group, name=None):
    def register(function):
        return group.command(name)(_one_line_errors(function))
    return register

ModelArg = typer.Argument(None, help="ONNX model file; the bundled demo model when omitted.",
                          show_default=False)
DeviceOpt = typer.Option(..., "--device", "-d", help="Device name from devices.toml.")
DataOpt = typer.Option(None, "--data", help=".npz with one array per model input (and 'labels').")
JsonOpt = typer.Option(False, "--json", help="Print machine-readable JSON on stdout.")
ReduceRangeOpt = typer.Option(False, "--reduce-range",
                              help="7-bit int8 weights: avoids saturation on CPUs without VNNI.")
ThreadsOpt = typer.Option(None, "--threads", help="Inference threads (default: the device's).")
MinRunsOpt = typer.Option(None, "--min-runs", help="Fewest timed runs per variant.")
MaxRunsOpt = typer.Option(None, "--max-runs", help="Most timed runs per variant.")
MinTimeOpt = typer.Option(None, "--min-time", help="Time floor per variant, seconds.")
MaxTimeOpt = typer.Option(None, "--max-time", help="Time ceiling per variant, seconds.")
RecipeOpt = typer.Option(None, "--recipe", help="TOML recipe of variants (default: the built-in grid).")
TorchOpt = typer.Option(None, "--torch", help="PyTorch model as module:function returning an nn.Module.")
InputShapeOpt = typer.Option(None, "--input-shape", help="With --torch: one sample's shape, e.g. 1,3,224,224.")
TrainDataOpt = typer.Option(None, "--train-data", help=".npz with 'x' and 'y' for distillation steps.")
DevicesOpt = typer.Option(None, "--device", "-d", help="Device name from devices.toml (repeatable).")
TagOpt = typer.Option(None, "--tag", "-t", help="Every device with this tag (repeatable).")
ParallelOpt = typer.Option(fleet.DEFAULT_PARALLEL, "--parallel", min=1, help="Devices measured at once.")
AcceptNewOpt = typer.Option(False, "--accept-new-host-key",
                            help="Record an unknown SSH host key instead of refusing (never a changed one).")
LockTimeoutOpt = typer.Option(600.0, "--lock-timeout",
                              help="Seconds to wait while another run holds the device.")


@app.callback()
def main_options(
    devices: Optional[Path] = typer.Option(None, "--devices", help="devices.toml to use "
                                           "(default: ./devices.toml, then ~/.config/edgeshrink/devices.toml)."),
    db: Optional[Path] = typer.Option(None, "--db", help="Results database (default: "
                                      "~/.local/share/edgeshrink/results.sqlite or $EDGESHRINK_DB)."),
    debug: bool = typer.Option(False, "--debug", help="Show tracebacks for errors."),
):
    state.devices_file, state.db, state.debug = devices, db, debug


def _device(name):
    return inventory.load(paths.devices_file(state.devices_file)).get(name)


def _log(message):
    render.err.print("[dim]%s[/]" % message)


def _settings(device, threads, min_runs, max_runs, min_time, max_time):
    settings = device.bench_settings(threads=threads, min_runs=min_runs, max_runs=max_runs,
                                     min_time_s=min_time, max_time_s=max_time)
    problems = settings.validate()
    if problems:
        raise UsageError("bad benchmark settings: " + "; ".join(problems))
    return settings


def _emit_json(payload):
    sys.stdout.write(json.dumps(payload, indent=2, default=str) + "\n")


@dataclass
class ModelChoice:
    """What to compress and how: the model, its data, and the variants to make."""

    model: Optional[Path] = None
    data: Optional[Path] = None
    reduce_range: bool = False
    recipe: Optional[Path] = None
    torch: Optional[str] = None
    input_shape: Optional[str] = None
    train_data: Optional[Path] = None

    def shape(self):
        if not self.input_shape:
            return None
        try:
            return tuple(int(d) for d in self.input_shape.split(","))
        except ValueError:
            raise UsageError("--input-shape takes comma-separated integers, e.g. 1,3,224,224")


def _prepare(choice):
    """Validate and compress the model before anything is sent anywhere."""
    if choice.torch and choice.model:
        raise UsageError("give either an ONNX MODEL or --torch module:function, not both")
    specs = recipe_loader.load(choice.recipe, choice.reduce_range) if choice.recipe \
        else variant_maker.default_specs(choice.reduce_range)
    source = jobs.resolve_model(choice.model, choice.data, log=_log, torch_factory=choice.torch,
                                input_shape=choice.shape(), train_data=choice.train_data)
    return source, jobs.compress(source, specs, log=_log)


def _show_run(stored, device_name, as_json, with_decision):
    if as_json:
        _emit_json(stored)
        return
    decision = stored["decision"] if with_decision else None
    render.out.print(render.results_table(stored["variants"], decision,
                                          "Run #%d on %s" % (stored["id"], device_name)))
    if decision:
        render.decision_view(decision)
        if decision.get("install"):
            render.install_view(decision["install"], device_name)


@command(app)
def compress(model: Optional[Path] = ModelArg, data: Optional[Path] = DataOpt,
             reduce_range: bool = ReduceRangeOpt, recipe: Optional[Path] = RecipeOpt,
             torch: Optional[str] = TorchOpt, input_shape: Optional[str] = InputShapeOpt,
             train_data: Optional[Path] = TrainDataOpt, as_json: bool = JsonOpt):
    """Make the variants of a model (cached: unchanged inputs are not compressed twice)."""
    source, variants = _prepare(ModelChoice(model, data, reduce_range, recipe, torch, input_shape, train_data))
    if as_json:
        _emit_json({"model": str(source.path), "variants": [
            {"name": v.name, "path": str(v.path), "cached": v.cached, "manifest": v.manifest} for v in variants]})
    else:
        render.out.print(render.variants_table(variants, "Variants of %s" % source.name))


def _fleet(device, tag, parallel, job):
    """Run ``job(target)`` on every selected device with a live view; returns the outcomes."""
    targets = inventory.load(paths.devices_file(state.devices_file)).select(device or [], tag or [])
    with render.LiveProgress() as live:
        return targets, fleet.run(targets, lambda target: job(target, live), parallel)


def _report(targets, outcomes, as_json, with_decision):
    """Show each device's stored run (or its error); fail with the first failing device's code."""
    store = ResultsStore(state.db)
    shown = []
    for outcome in outcomes:
        run_id = outcome.result.run_id if outcome.ok else getattr(outcome.error, "run_id", None)
        stored = store.load_run(run_id=run_id) if run_id is not None else None
        shown.append((outcome, stored))
    if len(targets) == 1:
        outcome, stored = shown[0]
        if stored is None:
            raise outcome.error
        _show_run(stored, outcome.device, as_json, with_decision)
        if outcome.error is not None:
            raise outcome.error
        return
    if as_json:
        _emit_json({"devices": [{"device": o.device, "run": stored,
                                 "error": None if o.ok else {"code": o.error.code, "message": o.error.one_line(),
                                                             "exit_code": o.error.exit_code}}
                                for o, stored in shown]})
    else:
        for outcome, stored in shown:
            if stored is not None:
                _show_run(stored, outcome.device, False, with_decision)
        render.out.print(render.fleet_table(shown))
    for outcome, _ in shown:
        if outcome.error is not None:
            render.err.print("edgeshrink: error: %s" % outcome.error.one_line(), markup=False,
                             highlight=False, soft_wrap=True)
    code = fleet.exit_code(outcomes)
    if code:
        raise typer.Exit(code)


def _measure_on_devices(kind, choice, device, tag, timing, parallel, accept_new_host_key, lock_timeout,
                        as_json, do_install=False):
    """What deploy and bench share: validate, compress, run on each device, report."""
    inventory.load(paths.devices_file(state.devices_file)).select(device or [], tag or [])
    source, variants = _prepare(choice)
    store = ResultsStore(state.db)
    options = jobs.ConnectOptions(accept_new_host_key=accept_new_host_key, lock_timeout_s=lock_timeout)

    def job(target, live):
        settings = _settings(target, *timing)
        if kind == "deploy":
            return jobs.deploy(target, source, variants, settings, store, do_install, live, options)
        return jobs.bench(target, source, variants, settings, store, live, options)

    targets, outcomes = _fleet(device, tag, parallel, job)
    _report(targets, outcomes, as_json, with_decision=kind == "deploy")


@command(app)
def deploy(model: Optional[Path] = ModelArg, device: Optional[List[str]] = DevicesOpt,
           tag: Optional[List[str]] = TagOpt, data: Optional[Path] = DataOpt,
           reduce_range: bool = ReduceRangeOpt, recipe: Optional[Path] = RecipeOpt,
           torch: Optional[str] = TorchOpt, input_shape: Optional[str] = InputShapeOpt,
           train_data: Optional[Path] = TrainDataOpt,
           no_install: bool = typer.Option(False, "--no-install", help="Decide but do not install."),
           threads: Optional[int] = ThreadsOpt, min_runs: Optional[int] = MinRunsOpt,
           max_runs: Optional[int] = MaxRunsOpt, min_time: Optional[float] = MinTimeOpt,
           max_time: Optional[float] = MaxTimeOpt, parallel: int = ParallelOpt,
           accept_new_host_key: bool = AcceptNewOpt, lock_timeout: float = LockTimeoutOpt,
           as_json: bool = JsonOpt):
    """Compress, measure every variant on the device(s), choose the best, install it."""
    _measure_on_devices("deploy", ModelChoice(model, data, reduce_range, recipe, torch, input_shape, train_data),
                        device, tag, (threads, min_runs, max_runs, min_time, max_time), parallel,
                        accept_new_host_key, lock_timeout, as_json, do_install=not no_install)


@command(app)
def bench(model: Optional[Path] = ModelArg, device: Optional[List[str]] = DevicesOpt,
          tag: Optional[List[str]] = TagOpt, data: Optional[Path] = DataOpt,
          reduce_range: bool = ReduceRangeOpt, recipe: Optional[Path] = RecipeOpt,
          torch: Optional[str] = TorchOpt, input_shape: Optional[str] = InputShapeOpt,
          train_data: Optional[Path] = TrainDataOpt,
          threads: Optional[int] = ThreadsOpt, min_runs: Optional[int] = MinRunsOpt,
          max_runs: Optional[int] = MaxRunsOpt, min_time: Optional[float] = MinTimeOpt,
          max_time: Optional[float] = MaxTimeOpt, parallel: int = ParallelOpt,
          accept_new_host_key: bool = AcceptNewOpt, lock_timeout: float = LockTimeoutOpt,
          as_json: bool = JsonOpt):
    """Measure every variant on the device(s) and store the results (no install)."""
    _measure_on_devices("bench", ModelChoice(model, data, reduce_range, recipe, torch, input_shape, train_data),
                        device, tag, (threads, min_runs, max_runs, min_time, max_time), parallel,
                        accept_new_host_key, lock_timeout, as_json)


@command(app, "select")
def select_cmd(device: str = DeviceOpt,
               run: Optional[int] = typer.Option(None, "--run", help="Stored run id (default: the latest)."),
               as_json: bool = JsonOpt):
    """Decide again from stored results, under the device's current constraints."""
    target = _device(device)
    stored, decision = jobs.reselect(ResultsStore(state.db), target, run)
    if as_json:
        _emit_json({"run": stored["id"], "decision": decision})
    else:
        render.out.print(render.results_table(stored["variants"], decision,
                                              "Run #%d on %s" % (stored["id"], target.name)))
        render.decision_view(decision)
    if decision["chosen"] is None:
        raise ConstraintError("device '%s': no variant of run #%d meets the constraints" % (device, stored["id"]))


@command(app)
def status(device: str = DeviceOpt, accept_new_host_key: bool = AcceptNewOpt, as_json: bool = JsonOpt):
    """Show what is installed and active on a device."""
    target = _device(device)
    result = jobs.status(target, jobs.ConnectOptions(accept_new_host_key=accept_new_host_key))
    if as_json:
        _emit_json(result)
    else:
        render.status_view(target.name, result)


# The `devices` subcommands live in their own module; importing it registers them.
from . import cli_devices  # noqa: E402,F401


def entry():
    app()
