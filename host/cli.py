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
from pathlib import Path
from typing import Optional

import typer

from ..shared.errors import ConstraintError, EdgeshrinkError, UsageError
from . import deploy as jobs
from . import inventory, paths, render
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


def _prepare(model, data, reduce_range, device_name=None):
    """Validate the device and the model before anything is compressed or sent."""
    device = _device(device_name) if device_name else None
    source = jobs.resolve_model(model, data, log=_log)
    variants = jobs.compress(source, variant_maker.default_specs(reduce_range), log=_log)
    return device, source, variants


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
             reduce_range: bool = ReduceRangeOpt, as_json: bool = JsonOpt):
    """Make the variants of a model (cached: unchanged inputs are not compressed twice)."""
    _, source, variants = _prepare(model, data, reduce_range)
    if as_json:
        _emit_json({"model": str(source.path), "variants": [
            {"name": v.name, "path": str(v.path), "cached": v.cached, "manifest": v.manifest} for v in variants]})
    else:
        render.out.print(render.variants_table(variants, "Variants of %s" % source.name))


@command(app)
def deploy(model: Optional[Path] = ModelArg, device: str = DeviceOpt, data: Optional[Path] = DataOpt,
           reduce_range: bool = ReduceRangeOpt,
           no_install: bool = typer.Option(False, "--no-install", help="Decide but do not install."),
           threads: Optional[int] = ThreadsOpt, min_runs: Optional[int] = MinRunsOpt,
           max_runs: Optional[int] = MaxRunsOpt, min_time: Optional[float] = MinTimeOpt,
           max_time: Optional[float] = MaxTimeOpt,
           as_json: bool = JsonOpt):
    """Compress, measure every variant on the device, choose the best, install it."""
    target, source, variants = _prepare(model, data, reduce_range, device)
    settings = _settings(target, threads, min_runs, max_runs, min_time, max_time)
    store = ResultsStore(state.db)
    failure, run_id = None, None
    with render.LiveProgress() as live:
        try:
            run_id = jobs.deploy(target, source, variants, settings, store, not no_install,
                                 on_event=live).run_id
        except EdgeshrinkError as exc:
            # Errors raised after the decision was stored carry the run: show it, then fail.
            failure, run_id = exc, getattr(exc, "run_id", None)
    if run_id is None:
        raise failure
    _show_run(store.load_run(run_id=run_id), target.name, as_json, with_decision=True)
    if failure is not None:
        raise failure


@command(app)
def bench(model: Optional[Path] = ModelArg, device: str = DeviceOpt, data: Optional[Path] = DataOpt,
          reduce_range: bool = ReduceRangeOpt,
          threads: Optional[int] = ThreadsOpt, min_runs: Optional[int] = MinRunsOpt,
          max_runs: Optional[int] = MaxRunsOpt, min_time: Optional[float] = MinTimeOpt,
          max_time: Optional[float] = MaxTimeOpt,
          as_json: bool = JsonOpt):
    """Measure every variant on the device and store the results (no install)."""
    target, source, variants = _prepare(model, data, reduce_range, device)
    settings = _settings(target, threads, min_runs, max_runs, min_time, max_time)
    store = ResultsStore(state.db)
    with render.LiveProgress() as live:
        run = jobs.bench(target, source, variants, settings, store, on_event=live)
    _show_run(store.load_run(run_id=run.run_id), target.name, as_json, with_decision=False)


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
def status(device: str = DeviceOpt, as_json: bool = JsonOpt):
    """Show what is installed and active on a device."""
    target = _device(device)
    result = jobs.status(target)
    if as_json:
        _emit_json(result)
    else:
        render.status_view(target.name, result)


@command(devices_app, "list")
def devices_list(as_json: bool = JsonOpt):
    """List the devices in devices.toml."""
    inv = inventory.load(paths.devices_file(state.devices_file))
    if as_json:
        _emit_json({name: {"connection": d.connection, "host": d.host, "runtime": d.runtime,
                           "threads": d.threads, "tags": d.tags, "constraints": d.constraints.to_dict()}
                    for name, d in inv.devices.items()})
    else:
        render.out.print(render.devices_table(inv))


def entry():
    app()
