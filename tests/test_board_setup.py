"""`devices setup` installs exact versions for every board Python it knows, and refuses
the rest in one line (issue 9, item 7)."""

import pytest

from edgeshrink.host import board_setup
from edgeshrink.shared.errors import RemoteError


def test_every_pin_is_exact_for_every_python():
    for version, pins in board_setup.PINS.items():
        assert all("==" in pin and not any(c in pin for c in "<>,*") for pin in pins), (version, pins)
        assert {pin.split("==")[0] for pin in pins} == {"onnxruntime", "numpy", "psutil"}
    assert board_setup.pins_for((3, 8), "aarch64")[0] == "onnxruntime==1.19.2"   # JetPack 5


@pytest.mark.parametrize("version, machine, words", [
    ((3, 15), "x86_64", "no pinned runtime versions for Python 3.15"),
    ((3, 7), "aarch64", "no pinned runtime versions for Python 3.7"),
    ((3, 11), "armv7l", "no wheels for armv7l"),
])
def test_pythons_and_machines_without_pins_are_refused(version, machine, words):
    with pytest.raises(RemoteError) as caught:
        board_setup.pins_for(version, machine)
    assert words in caught.value.one_line() and "\n" not in caught.value.one_line()


def test_a_remote_tools_error_output_becomes_its_last_line():
    assert board_setup._last_line("Collecting x\n  error: thing\nERROR: No matching distribution\n", 1) == \
        "ERROR: No matching distribution"
    assert board_setup._last_line("", 2) == "exit status 2"
