"""The command-line options more than one command takes, each declared once.

Single options are annotated types (``as_json: JsonFlag = False``); options that travel
together are dataclasses a command takes as one parameter (see option_groups.py).
"""

import dataclasses
from dataclasses import dataclass
from pathlib import Path
from typing import Annotated, List, Optional

import typer

from ...shared.decision import OBJECTIVES
from ...shared.errors import UsageError
from .. import fleet, input_shapes, metrics as task_metrics, tflite_model
from ..inventory import RUNTIMES
from ..compress.executors import ExecutorChoice
from ..compress.recipe import load_metrics as recipe_metrics
from ..deploy import ConnectOptions

JsonFlag = Annotated[bool, typer.Option(
    "--json", help="Print one JSON document on stdout, on failure too (\"ok\" says which).")]
DeviceName = Annotated[str, typer.Option("--device", "-d", help="Device name from devices.toml.")]
DeviceNames = Annotated[Optional[List[str]], typer.Option(
    "--device", "-d", help="Device name from devices.toml (repeatable).")]
Tags = Annotated[Optional[List[str]], typer.Option("--tag", "-t", help="Every device with this tag (repeatable).")]
Parallel = Annotated[int, typer.Option("--parallel", min=1, help="Devices worked on at once.")]
AcceptNewHostKey = Annotated[bool, typer.Option(
    "--accept-new-host-key", help="Record an unknown SSH host key instead of refusing (never a changed one).")]
LockTimeout = Annotated[float, typer.Option(
    "--lock-timeout", min=0, max=86400, help="Seconds to wait while another run holds the device.")]


@dataclass(frozen=True)
class ModelChoice:
    """What to compress and how: the model, its data, and the variants to make."""

    model: Annotated[Optional[Path], typer.Argument(
        help="ONNX or TensorFlow Lite model file; the bundled demo model when omitted.", show_default=False)] = None
    data: Annotated[Optional[Path], typer.Option(
        "--data", help=".npz with one array per model input (and 'labels').")] = None
    reduce_range: Annotated[bool, typer.Option(
        "--reduce-range", help="7-bit int8 weights: avoids saturation on CPUs without VNNI.")] = False
    recipe: Annotated[Optional[Path], typer.Option(
        "--recipe", help="TOML recipe of variants (default: the built-in grid).")] = None
    torch: Annotated[Optional[str], typer.Option(
        "--torch", help="PyTorch model as module:function returning an nn.Module.")] = None
    input_shape: Annotated[Optional[List[str]], typer.Option(
        "--input-shape", help="NAME=d1,d2,... for an input with dynamic dimensions (repeatable); with --torch or "
        "a one-input model, d1,d2,... alone.")] = None
    train_data: Annotated[Optional[Path], typer.Option(
        "--train-data", help=".npz with 'x' and 'y' for distillation steps.")] = None
    metric: Annotated[Optional[List[str]], typer.Option(
        "--metric", help="OUTPUT=KIND[,opt=value] judging one output: classification, sequence[,blank=K], "
        "map[,threshold=X], cosine, or module:function (repeatable; default from the output's shape).")] = None
    runtime: Annotated[Optional[List[str]], typer.Option(
        "--runtime", help="Runtime to make and measure variants for: %s (repeatable; default: each device's "
        "runtime list in devices.toml)." % ", ".join(RUNTIMES))] = None
    jobs: Annotated[int, typer.Option(
        "--jobs", "-j", help="Variants made at once (a local process pool above 1; with --executor ray, the "
        "CPUs of the local Ray it starts).")] = 1
    executor: Annotated[str, typer.Option(
        "--executor", help="Where variants are made: process (this host) or ray (a Ray cluster; needs "
        "the ray extra).")] = "process"
    ray_address: Annotated[Optional[str], typer.Option(
        "--ray-address", help="With --executor ray: the head node (host:port) of a running Ray cluster; "
        "default: start a local one.")] = None

    def work(self):
        """Who makes the variants (checked)."""
        choice = ExecutorChoice(self.executor, self.jobs, self.ray_address)
        choice.check()
        return choice

    @property
    def names_a_model(self):
        """MODEL, --torch or --recipe was given (else a command may use what is installed)."""
        return self.model is not None or self.torch is not None or self.recipe is not None

    def check(self):
        if self.torch and self.model:
            raise UsageError("give either an ONNX MODEL or --torch module:function, not both")
        self.shape()
        self.metrics()
        self.runtimes()
        self.work()

    def runtimes(self):
        """The runtimes this run is for, overriding the devices' lists; None to keep them.
        A .tflite model runs on one runtime only, so it chooses that one unless told."""
        if self.runtime:
            unknown = [name for name in self.runtime if name not in RUNTIMES]
            if unknown:
                raise UsageError("--runtime must be one of %s, got %r" % (", ".join(RUNTIMES), unknown[0]))
            return list(dict.fromkeys(self.runtime))
        if self.model is not None and tflite_model.is_tflite(self.model):
            return ["tflite"]
        return None

    def shape(self):
        return input_shapes.parse(self.input_shape)

    def metrics(self):
        """The recipe's [metrics], overridden output by output by --metric."""
        given = recipe_metrics(self.recipe) if self.recipe else {}
        given.update(task_metrics.parse(self.metric))
        return given


@dataclass(frozen=True)
class TimingOverrides:
    """Benchmark settings from the command line; each one given overrides the device's [bench]."""

    threads: Annotated[Optional[int], typer.Option(
        "--threads", help="Inference threads (default: the device's).")] = None
    min_runs: Annotated[Optional[int], typer.Option("--min-runs", help="Fewest timed runs per variant.")] = None
    max_runs: Annotated[Optional[int], typer.Option("--max-runs", help="Most timed runs per variant.")] = None
    min_time: Annotated[Optional[float], typer.Option("--min-time", help="Time floor per variant, seconds.")] = None
    max_time: Annotated[Optional[float], typer.Option("--max-time", help="Time ceiling per variant, seconds.")] = None
    rounds: Annotated[Optional[int], typer.Option(
        "--rounds", help="Time every variant in this many interleaved rounds (A B C, C B A, ...; default 2).")] = None
    shuffle: Annotated[Optional[bool], typer.Option(
        "--shuffle/--no-shuffle", help="A new random variant order each round.", show_default=False)] = None
    precision: Annotated[Optional[float], typer.Option(
        "--precision", help="Stop timing once the median's 95%% CI is within +/- this %% (0: off).")] = None
    power: Annotated[Optional[bool], typer.Option(
        "--power/--no-power", help="Read the board's power source during timing (temperature and clock traces are taken either way).", show_default=False)] = None
    cooldown: Annotated[Optional[float], typer.Option(
        "--cooldown", help="Seconds to pause before each variant's timing.")] = None
    cooldown_to: Annotated[Optional[float], typer.Option(
        "--cooldown-to", help="Before each variant, wait until the hottest zone is at or below this C.")] = None

    def settings_for(self, device):
        """The device's benchmark settings with these overrides, refused when inconsistent."""
        settings = device.bench_settings(threads=self.threads, min_runs=self.min_runs, max_runs=self.max_runs,
                                         min_time_s=self.min_time, max_time_s=self.max_time, rounds=self.rounds,
                                         shuffle=self.shuffle, precision_pct=self.precision,
                                         sample_power=self.power, cooldown_s=self.cooldown,
                                         cooldown_to_c=self.cooldown_to)
        problems = settings.validate()
        if problems:
            raise UsageError("device '%s': bad benchmark settings: %s" % (device.name, "; ".join(problems)),
                             "check --threads, --min-runs, --max-runs, --min-time, --max-time, --rounds, "
                             "--precision, --cooldown, --cooldown-to and [devices.%s.bench]" % device.name)
        return settings


Objective = Annotated[Optional[str], typer.Option(
    "--objective", help="What 'best' means among feasible variants: latency (default), energy or size "
    "(default: the device's objective).", show_default=False)]


def with_runtimes(device, runtimes):
    """The device measuring with the command line's runtimes (ModelChoice.runtimes)."""
    return device if not runtimes else dataclasses.replace(device, runtimes=list(runtimes))


def with_objective(device, objective):
    """The device with the command line's objective, refused when unknown."""
    if objective is None:
        return device
    if objective not in OBJECTIVES:
        raise UsageError("--objective must be one of %s, got %r" % (", ".join(OBJECTIVES), objective))
    return dataclasses.replace(device, objective=objective)


@dataclass(frozen=True)
class FleetTargets:
    """Which devices a measuring command works on, how many at once, and how it reaches them."""

    device: DeviceNames = None
    tag: Tags = None
    parallel: Parallel = fleet.DEFAULT_PARALLEL
    accept_new_host_key: AcceptNewHostKey = False
    lock_timeout: LockTimeout = ConnectOptions.lock_timeout_s

    def connect_options(self):
        return ConnectOptions(accept_new_host_key=self.accept_new_host_key, lock_timeout_s=self.lock_timeout)
