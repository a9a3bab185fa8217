"""What the command modules share: the global options, device and store lookup, logging,
making the variants, and the one way every command ends.

A command ends with exit code 0 and, under ``--json``, its document on stdout with
``"ok": true``; or with one line per error on stderr, a documented exit code and,
under ``--json``, ``{"ok": false, "error": {code, message, exit_code}, ...}`` holding
whatever run or decision exists. stdout carries exactly one JSON document either way.

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
import traceback
from dataclasses import dataclass
from pathlib import Path
from typing import Optional

import typer

from ...shared.errors import EdgeshrinkError, StoreError, to_dict
from .. import deploy as jobs
from .. import inventory, paths, render, spool
from ..compress import recipe as recipe_loader
from ..store import ResultsStore
from . import output
from .option_groups import expand_option_groups

# The parameter every command with --json names its flag, so the ending knows the format.
JSON_PARAMETER = "as_json"
INTERRUPTED = {"code": "interrupted", "message": "interrupted", "exit_code": 130}


@dataclass
class GlobalOptions:
    """The options given before the command (--devices, --db, --debug)."""

    devices_file: Optional[Path] = None
    db: Optional[Path] = None
    debug: bool = False
    quiet: bool = False     # the running command prints --json: no progress bars



state = GlobalOptions()


def load_devices():
    return inventory.load(paths.devices_file(state.devices_file))


def find_device(name):
    return load_devices().get(name)


def results_store():
    """The store, with any runs an earlier command had to spool imported into it first."""
    store = ResultsStore(state.db)
    try:
        for line in spool.import_into(store):
            log(line)
    except StoreError:
        pass   # still unusable: the spool stays, and the command reports the store itself
    return store


def live_progress():
    """The per-variant measurement bars, hidden under --json."""
    return render.LiveProgress(quiet=state.quiet)


def log(message):
    render.err.print(message, style="dim", markup=False, highlight=False)


def make_variants(choice, devices_runtimes=()):
    """Check the model choice and compress the model, before anything is sent anywhere.
    Without a recipe the grid is each runtime's built-in one (``devices_runtimes``: each
    device's list, which --runtime overrides; ONNX Runtime alone when neither says)."""
    runtimes = list(dict.fromkeys(r for device_runtimes in devices_runtimes for r in device_runtimes))
    choice.check()
    recipe = recipe_loader.load(choice.recipe, choice.reduce_range) if choice.recipe else None
    source = jobs.resolve_model(choice.model, choice.data, log=log, torch_factory=choice.torch,
                                input_shape=choice.shape(), train_data=choice.train_data,
                                metrics=choice.metrics())
    asked = choice.runtimes()
    specs = jobs.fit_recipe(source, recipe, devices_runtimes) if recipe else \
        jobs.default_grid(source, asked or runtimes or ["onnxruntime"], choice.reduce_range, asked=bool(asked),
                          log=log)
    with render.CompressProgress(quiet=state.quiet) as progress:
        variants = jobs.compress(source, specs, log=progress.log, on_variant=progress.on_variant,
                                 executor=choice.work())
    warn_flags(variants)
    return source, variants


def warn_flags(variants):
    """One warning line per manifest flag, on stderr (so --json stays one document): a
    variant that missed its target, was cut short, or came out larger or slower than its
    source must never pass for one that did not."""
    for variant in variants:
        for flag in variant.flags:
            render.err.print("warning: %s: %s (step %s): %s" % (variant.name, flag["flag"], flag["step"], flag["text"]),
                             style="bold yellow", markup=False, highlight=False, soft_wrap=True)


class CommandFailed(Exception):
    """A command ending in error after producing part of its result.

    ``document`` is its --json document as far as it got (the stored run, the decision);
    every error is one line on stderr; the first decides the exit code and is the
    document's ``error``.
    """

    def __init__(self, errors, document=None):
        super().__init__(errors[0].one_line())
        self.errors = list(errors)
        self.document = document


def emit_json(document):
    sys.stdout.write(json.dumps(document, indent=2, default=str) + "\n")
    sys.stdout.flush()


def stored_run(run_id):
    """The stored run with this id, or None for no id."""
    return results_store().load_run(run_id=run_id) if run_id is not None else None


def _stored_run_document(run_id):
    """The stored run a failure belongs to, as JSON; None when there is none to give."""
    try:
        run = stored_run(run_id)
    except EdgeshrinkError:  # the failure being reported matters more than its run
        return None
    return output.run_document(run) if run is not None else None


def _document(ok, document, error=None):
    head = {"ok": ok}
    if error is not None:
        head["error"] = error
    return dict(head, **{k: v for k, v in (document or {}).items() if k not in head})


def _print_error(error):
    render.err.print("edgeshrink: error: %s" % error.one_line(), markup=False, highlight=False, soft_wrap=True)


def _fail(errors, document, as_json):
    if as_json:
        emit_json(_document(False, document, to_dict(errors[0])))
    if state.debug:  # the traceback, and still the documented exit code
        traceback.print_exception(type(errors[0]), errors[0], errors[0].__traceback__, file=sys.stderr)
    for error in errors:
        _print_error(error)
    raise typer.Exit(errors[0].exit_code)


def command(function):
    """A command as Typer registers it: option groups expanded, and ended as described above.

    ``function`` returns its --json document (a dict) or None; it raises an
    EdgeshrinkError, or CommandFailed when part of its result exists.
    """
    function = expand_option_groups(function)

    @functools.wraps(function)
    def run(**values):
        as_json = values.get(JSON_PARAMETER, False)
        state.quiet = bool(as_json)
        try:
            document = function(**values)
        except CommandFailed as failed:
            _fail(failed.errors, failed.document, as_json)
        except EdgeshrinkError as error:
            _fail([error], _stored_run_document(error.run_id), as_json)
        except KeyboardInterrupt:
            if as_json:
                emit_json(_document(False, None, INTERRUPTED))
            render.err.print("edgeshrink: interrupted")
            raise typer.Exit(INTERRUPTED["exit_code"])
        except typer.Exit:
            raise
        except Exception as exc:  # a bug: one line; --debug shows the traceback
            if as_json:
                emit_json(_document(False, None, to_dict(EdgeshrinkError(
                    "internal error: %s: %s" % (type(exc).__name__, exc)))))
            if state.debug:
                raise
            render.err.print("edgeshrink: internal error: %s: %s (re-run with --debug for the traceback)"
                             % (type(exc).__name__, exc), markup=False, highlight=False, soft_wrap=True)
            raise typer.Exit(1)
        if as_json:
            emit_json(_document(True, document))
    return run
