"""`devices setup` installs exact versions for every board Python it knows, for each
runtime the device lists, and refuses the rest in one line (issue 9, item 7; issue 11,
item 6)."""

import itertools

import pytest

from edgeshrink.host import board_setup
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
    ((3, 11), "armv7l", ("onnxruntime",), "no wheels of onnxruntime exist for armv7l"),
    ((3, 11), "armv7l", ("tflite",), "no wheels of TensorFlow Lite exist for armv7l"),
    ((3, 11), "x86_64", ("tensorrt",), "no runtime named 'tensorrt'"),
])
def test_pythons_machines_and_runtimes_without_pins_are_refused(version, machine, runtimes, words):
    with pytest.raises(RemoteError) as caught:
        board_setup.pins_for(version, machine, runtimes)
    assert words in caught.value.one_line() and "\n" not in caught.value.one_line()


def test_a_remote_tools_error_output_becomes_its_last_line():
    assert board_setup._last_line("Collecting x\n  error: thing\nERROR: No matching distribution\n", 1) == \
        "ERROR: No matching distribution"
    assert board_setup._last_line("", 2) == "exit status 2"
