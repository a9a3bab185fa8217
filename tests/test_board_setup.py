"""`devices setup` installs exact versions for every board Python it knows, for each
runtime the device lists, and refuses the rest in one line (issue 9, item 7; issue 11,
item 6)."""

import itertools
import subprocess
import sys

import pytest
from hypothesis import given
from hypothesis import strategies as st

from edgeshrink.host import board_setup
from edgeshrink.host.inventory import Device
from edgeshrink.shared.errors import RemoteError

MACHINES = ("x86_64", "aarch64", "arm64", "AMD64")
RUNTIME_LISTS = (("onnxruntime",), ("tflite",), ("onnxruntime", "tflite"))


def test_every_pin_is_exact_for_every_python():
    for version, pins in board_setup.PINS.items():
        assert all("==" in pin and not any(c in pin for c in "<>,*") for pin in pins), (version, pins)
        assert {pin.split("==")[0] for pin in pins} == {"onnxruntime", "numpy", "psutil"}
    assert board_setup.pins_for((3, 8), "aarch64")[0] == "onnxruntime==1.19.2"   # JetPack 5


@pytest.mark.parametrize("version, machine, runtimes", list(itertools.product(
    sorted(board_setup.PINS), MACHINES, RUNTIME_LISTS)))
def test_each_python_machine_and_runtime_list_gets_one_exact_version_of_each_package(version, machine, runtimes):
    pins = board_setup.pins_for(version, machine, runtimes)
    names = [pin.split("==")[0] for pin in pins]
    assert all("==" in pin and not any(c in pin for c in "<>,*") for pin in pins), pins
    assert len(names) == len(set(names)), pins          # never two versions of one package
    assert {"numpy", "psutil"} <= set(names)            # what the agent itself needs
    assert ("onnxruntime" in names) == ("onnxruntime" in runtimes)
    interpreters = {"ai-edge-litert", "tflite-runtime"} & set(names)
    assert len(interpreters) == ("tflite" in runtimes)
    numpy = tuple(int(part) for part in dict(p.split("==") for p in pins)["numpy"].split(".")[:2])
    if "tflite-runtime" in names:
        assert numpy < (2, 0)                           # tflite-runtime crashes under numpy 2


@pytest.mark.parametrize("version, machine, expected", [
    ((3, 8), "aarch64", "tflite-runtime==2.13.0"),      # JetPack 5: 2.14.0 has no aarch64 wheel
    ((3, 8), "x86_64", "tflite-runtime==2.14.0"),
    ((3, 9), "aarch64", "ai-edge-litert==2.1.0"),
    ((3, 10), "arm64", "ai-edge-litert==2.3.0"),
    ((3, 14), "x86_64", "ai-edge-litert==2.3.0"),
])
def test_the_tflite_interpreter_is_the_one_with_wheels_for_the_board(version, machine, expected):
    assert board_setup.pins_for(version, machine, ("tflite",))[-1] == expected


@pytest.mark.parametrize("version, machine, runtimes, words", [
    ((3, 15), "x86_64", ("onnxruntime",), "no pinned runtime versions for Python 3.15"),
    ((3, 7), "aarch64", ("onnxruntime",), "no pinned runtime versions for Python 3.7"),
    ((3, 11), "armv7l", ("onnxruntime",), "no current wheels of onnxruntime exist for armv7l boards; install a "
                                          "64-bit OS (aarch64)"),
    ((3, 8), "armv7l", ("tflite",), "no current wheels of TensorFlow Lite exist for armv7l"),
    ((3, 11), "armv7l", ("onnxruntime", "tflite"), "no current wheels of onnxruntime or TensorFlow Lite exist"),
    ((3, 15), "aarch64", ("tflite",), "no pinned runtime versions for Python 3.15 (edgeshrink pins 3.8, 3.9"),
    ((3, 11), "x86_64", ("tensorrt",), "no runtime named 'tensorrt'"),
])
def test_pythons_machines_and_runtimes_without_pins_are_refused(version, machine, runtimes, words):
    with pytest.raises(RemoteError) as caught:
        board_setup.pins_for(version, machine, runtimes)
    assert words in caught.value.one_line() and "\n" not in caught.value.one_line()


def _pinned(pins):
    return dict(pin.split("==") for pin in pins)


@pytest.mark.parametrize("version, machine", list(itertools.product(sorted(board_setup.PINS), MACHINES)))
def test_adding_tflite_adds_only_its_interpreter_so_one_numpy_serves_both(version, machine):
    alone = board_setup.pins_for(version, machine, ("onnxruntime",))
    both = board_setup.pins_for(version, machine, ("onnxruntime", "tflite"))
    assert both[:-1] == alone and both[-1].split("==")[0] in ("ai-edge-litert", "tflite-runtime")
    assert _pinned(board_setup.pins_for(version, machine, ("tflite",)))["numpy"] == _pinned(alone)["numpy"]


VERSIONS = st.tuples(st.just(3), st.integers(0, 20))
ANY_MACHINE = st.sampled_from(MACHINES + ("armv7l", "armv6l", "riscv64", "i686", "AARCH64", ""))
ANY_RUNTIMES = st.lists(st.sampled_from(board_setup.RUNTIMES), min_size=1, max_size=4)


@given(VERSIONS, ANY_MACHINE, ANY_RUNTIMES)
def test_pins_are_exact_and_unique_or_refused_in_one_line(version, machine, runtimes):
    try:
        pins = board_setup.pins_for(version, machine, runtimes)
    except RemoteError as refused:
        assert "\n" not in refused.one_line() and refused.one_line().startswith("no ")
        return
    names = [pin.split("==")[0] for pin in pins]
    assert len(names) == len(set(names)), pins         # never two versions of one package
    assert all(pin.count("==") == 1 and not any(c in pin for c in "<>,*; ") for pin in pins), pins
    if "tflite-runtime" in names:
        assert _pinned(pins)["numpy"].split(".")[0] == "1", pins


class FakeBoard:
    """A connector that answers setup's commands as a board would: its Python's version,
    then each install and check succeeding unless ``check_errors`` names the runtime."""

    python = "/usr/bin/python3"
    root = "/home/pi/.edgeshrink"

    def __init__(self, version_line, versions, check_errors=None):
        self.version_line, self.versions, self.check_errors = version_line, versions, check_errors or {}
        self.commands = []

    def __enter__(self):
        return self

    def __exit__(self, *exc):
        return False

    def run(self, args, timeout_s=60):
        self.commands.append(list(args))
        if args[0] == self.python and args[1] == "-c":
            return 0, self.version_line, ""
        if args[1] != "-c":                              # venv, pip install
            return 0, "", ""
        runtime = "onnxruntime" if "import onnxruntime" in args[2] else "tflite"
        if runtime in self.check_errors:
            return 1, "", "INFO: Created TensorFlow Lite XNNPACK delegate for CPU.\n" + self.check_errors[runtime]
        return 0, self.versions[runtime] + "\n", ""


def _set_up(monkeypatch, board, runtimes, python=None):
    monkeypatch.setattr(board_setup, "for_device", lambda device: board)
    device = Device(name="jetson", connection="ssh", host="jetson.local", runtimes=list(runtimes), python=python)
    return board_setup.setup(device, log=lambda line: None)


def test_setup_installs_every_listed_runtime_and_reports_each_version(monkeypatch):
    board = FakeBoard("3 8 aarch64\n", {"onnxruntime": "1.19.2", "tflite": "tflite-runtime 2.13.0"})
    result = _set_up(monkeypatch, board, ("onnxruntime", "tflite"), python="/usr/bin/python3")
    assert result["runtimes"] == {"onnxruntime": "1.19.2", "tflite": "tflite-runtime 2.13.0"}
    assert result["onnxruntime"] == "1.19.2" and result["venv"] == "/home/pi/.edgeshrink/venv"
    install = next(c for c in board.commands if "install" in c)
    assert install[-4:] == ["onnxruntime==1.19.2", "numpy==1.24.4", "psutil==7.2.2", "tflite-runtime==2.13.0"]
    tflite_check = board.commands[-1][2]
    assert "from tflite_runtime.interpreter import Interpreter" in tflite_check and "ai_edge_litert" not in tflite_check
    assert "change it to '/home/pi/.edgeshrink/venv/bin/python'" in result["note"]


def test_a_runtime_that_fails_its_check_is_one_line_with_the_boards_reason(monkeypatch):
    board = FakeBoard("3 9 x86_64\n", {}, {"tflite": "tflite-runtime 2.14.0 does not run with numpy 2.0.2: "
                                                     "numpy.core.multiarray failed to import"})
    with pytest.raises(RemoteError) as caught:
        _set_up(monkeypatch, board, ("tflite",))
    assert caught.value.one_line() == ("device 'jetson': tflite installed but does not run a model: tflite-runtime "
                                       "2.14.0 does not run with numpy 2.0.2: numpy.core.multiarray failed to import")


def test_a_board_without_wheels_is_refused_before_anything_is_installed(monkeypatch):
    board = FakeBoard("3 11 armv7l\n", {})
    with pytest.raises(RemoteError) as caught:
        _set_up(monkeypatch, board, ("tflite",))
    assert caught.value.one_line().startswith("device 'jetson': no current wheels of TensorFlow Lite exist for armv7l")
    assert len(board.commands) == 1                     # only the version question was asked


@pytest.mark.parametrize("pins", [["numpy==2.4.6", "ai-edge-litert==2.3.0"],
                                  ["numpy==1.24.4", "tflite-runtime==2.13.0"]])
def test_the_tflite_check_imports_the_pinned_interpreter_and_runs_its_model(pins):
    source = board_setup._import_check("tflite", pins)
    module = "ai_edge_litert" if "ai-edge-litert" in pins[-1] else "tflite_runtime"
    assert "from %s.interpreter import Interpreter" % module in source
    compile(source, "check", "exec")
    if module == "ai_edge_litert":                       # the host's own interpreter (test extra)
        done = subprocess.run([sys.executable, "-c", source], capture_output=True, text=True, timeout=120)
        assert done.returncode == 0, done.stderr
        assert done.stdout.startswith("ai-edge-litert 2."), done.stdout


def test_a_remote_tools_error_output_becomes_its_last_line():
    assert board_setup._last_line("Collecting x\n  error: thing\nERROR: No matching distribution\n", 1) == \
        "ERROR: No matching distribution"
    assert board_setup._last_line("", 2) == "exit status 2"
