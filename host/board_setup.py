"""`devices setup`: a venv under the device root with the runtimes the agent needs.

Versions are pinned per board Python so that the wheels exist (onnxruntime dropped
Python 3.8 and 3.9 after 1.19.2, and 3.10 after 1.23.2). onnxruntime publishes
wheels for x86_64 and aarch64 Linux; on 32-bit ARM there is none to install.

TensorFlow Lite comes from whichever interpreter has wheels for the board. Checked
against the package index with ``pip download --no-deps --only-binary=:all:
--platform ... --python-version ... --abi cpXY`` (2026-11):
- ai-edge-litert 2.3.0: cp310 to cp314, x86_64 and aarch64, tagged manylinux_2_27 (so
  glibc >= 2.27 on the board); none for 3.8 or 3.9, where 2.1.0 is the last (cp39,
  both machines, manylinux_2_27) and nothing at all exists for 3.8.
- tflite-runtime: 2.14.0 is x86_64 only (cp38, cp39); 2.13.0 is the last aarch64
  wheel (cp38, cp39, manylinux2014). Its extension is built against numpy 1 only (it
  imports ``numpy.core``): under numpy 2.0.2 both versions import but cannot create an
  interpreter, so it gets numpy < 2. It asks numpy >= 1.21.2 (2.13.0) or >= 1.23.2
  (2.14.0), which 3.8's numpy 1.24.4 meets, as it meets onnxruntime 1.19.2.
- ai-edge-litert 2.1.0 and 2.3.0 are built against numpy 2 (their extension also
  knows ``numpy._core``), so each Python's numpy below serves them, 2.0.2 on 3.9 too.
- armv7l: neither ai-edge-litert nor onnxruntime has a wheel for any Python;
  tflite-runtime's only one is 2.5.0 for cp38 (2021), too old to pin.
Run for real on x86_64 (pyenv's 3.8.18 and 3.9.18 as the board Python of a lab SSH
board): `devices setup` with both runtimes, then an fp32 and an int8 .tflite measured
in the venv. The aarch64 pins are checked as wheels only.
"""

from ..shared.errors import ConnectError, RemoteError
from .connectors import for_device

# Exact versions per board Python, every one of them: a board set up today and one set
# up next year measure with the same runtime. A Python not listed is refused.
_CURRENT = ["onnxruntime==1.32.0", "numpy==2.4.6", "psutil==7.2.2"]
PINS = {
    (3, 8): ["onnxruntime==1.19.2", "numpy==1.24.4", "psutil==7.2.2"],
    (3, 9): ["onnxruntime==1.19.2", "numpy==2.0.2", "psutil==7.2.2"],
    (3, 10): ["onnxruntime==1.23.2", "numpy==2.2.6", "psutil==7.2.2"],
    (3, 11): _CURRENT, (3, 12): _CURRENT, (3, 13): _CURRENT, (3, 14): _CURRENT,
}
_LITERT = {"x86_64": "ai-edge-litert==2.3.0", "aarch64": "ai-edge-litert==2.3.0"}
# The TFLite interpreter per board Python and machine (numpy as PINS has it: 1.24 on
# 3.8 is below 2, which tflite-runtime needs).
TFLITE_PINS = {
    (3, 8): {"x86_64": "tflite-runtime==2.14.0", "aarch64": "tflite-runtime==2.13.0"},
    (3, 9): {"x86_64": "ai-edge-litert==2.1.0", "aarch64": "ai-edge-litert==2.1.0"},
    (3, 10): _LITERT, (3, 11): _LITERT, (3, 12): _LITERT, (3, 13): _LITERT, (3, 14): _LITERT,
}
RUNTIMES = ("onnxruntime", "tflite")
# How a board names its machine -> how wheels name it.
MACHINES = {"x86_64": "x86_64", "amd64": "x86_64", "aarch64": "aarch64", "arm64": "aarch64"}
INSTALL_TIMEOUT_S = 1800
# A first import on an SD card compiles bytecode and maps ~100 MB of shared libraries.
CHECK_TIMEOUT_S = 180
# Run on the board after installing: the runtime's version, or the import's own error.
_ONNXRUNTIME_CHECK = "import onnxruntime, numpy; print(onnxruntime.__version__)"
# One RELU on a float32 [1] tensor (276 bytes, built with ai_edge_litert's
# schema_py_generated). Importing tflite-runtime succeeds under numpy 2; creating an
# interpreter is what fails, so the check runs this model.
_TINY_TFLITE = ("GAAAAFRGTDMAAA4AFAAQAAwACAAAAAQADgAAABAAAAAcAAAA0AAAAAMAAAABAAAACAAAAAQABAAEAAAAAQAAABAA"
                "AAAMABQAEAAMAAgABAAMAAAAEAAAADwAAABAAAAARAAAAAEAAAAQAAAAAAAKAAwAAAAIAAQACgAAAAgAAAAMAAAA"
                "AQAAAAEAAAABAAAAAAAAAAEAAAABAAAAAQAAAAAAAAACAAAAMAAAAAQAAADk////CAAAAAwAAAABAAAAeQAAAAEA"
                "AAABAAAADAAMAAgAAAAAAAQADAAAAAgAAAAMAAAAAQAAAHgAAAABAAAAAQAAAAEAAAAQAAAADAAMAAsAAAAAAAQA"
                "DAAAABMAAAAAAAAT")
# The TFLite interpreter that was pinned, by name (trying each would hide why it failed).
_TFLITE_CHECK = """\
import base64
from importlib.metadata import version
import numpy
from %(module)s.interpreter import Interpreter
try:
    interpreter = Interpreter(model_content=base64.b64decode(%(model)r))
    interpreter.allocate_tensors()
    interpreter.set_tensor(interpreter.get_input_details()[0]["index"], numpy.array([-2.0], numpy.float32))
    interpreter.invoke()
    out = interpreter.get_tensor(interpreter.get_output_details()[0]["index"]).tolist()
    assert out == [0.0], "RELU(-2) gave %%r" %% out
except Exception as error:
    raise SystemExit("%(dist)s %%s does not run with numpy %%s: %%s"
                     %% (version(%(dist)r), numpy.__version__, error.__cause__ or error))
print(%(dist)r, version(%(dist)r))
"""
_TFLITE_MODULES = {"ai-edge-litert": "ai_edge_litert", "tflite-runtime": "tflite_runtime"}


def pins_for(version, machine, runtimes=("onnxruntime",)):
    """Exact pins for a board's Python ``version`` and ``machine`` with ``runtimes``:
    numpy and psutil (the agent's own needs) and each runtime's package."""
    arch = MACHINES.get(machine.lower())
    if arch is None:
        raise RemoteError("no current wheels of %s exist for %s boards; install a 64-bit OS (aarch64) or build "
                          "it from source there" % (" or ".join(_package_names(runtimes)), machine))
    pins = PINS.get(tuple(version[:2]))
    if pins is None:
        raise RemoteError("no pinned runtime versions for Python %d.%d (edgeshrink pins %s)"
                          % (version[0], version[1], ", ".join("%d.%d" % v for v in sorted(PINS))),
                          "point python in devices.toml at one of those versions")
    unknown = [r for r in runtimes if r not in RUNTIMES]
    if unknown:
        raise RemoteError("no runtime named %r (known: %s)" % (unknown[0], ", ".join(RUNTIMES)))
    chosen = [p for p in pins if not p.startswith("onnxruntime==") or "onnxruntime" in runtimes]
    if "tflite" in runtimes:
        chosen.append(TFLITE_PINS[tuple(version[:2])][arch])
    return chosen


def _package_names(runtimes):
    return ["onnxruntime" if r == "onnxruntime" else "TensorFlow Lite" for r in runtimes] or ["onnxruntime"]


def _import_check(runtime, packages):
    """Python source that imports ``runtime`` as ``packages`` installed it and prints
    its version ("ai-edge-litert 2.3.0" for TFLite, which can be either package)."""
    if runtime == "onnxruntime":
        return _ONNXRUNTIME_CHECK
    dist = next(p.split("==")[0] for p in packages if p.split("==")[0] in _TFLITE_MODULES)
    return _TFLITE_CHECK % {"module": _TFLITE_MODULES[dist], "dist": dist, "model": _TINY_TFLITE}


def _last_line(text, status):
    """The one line of a remote tool's error output worth showing (the last one)."""
    lines = [line.strip() for line in (text or "").splitlines() if line.strip()]
    return lines[-1][-300:] if lines else "exit status %d" % status


def setup(device, log=print):
    """Create <root>/venv on an SSH board, install the pinned packages of every runtime
    the device lists, and check that each one works there: {runtime: its version}."""
    if device.connection != "ssh":
        raise ConnectError("device '%s' is %s: it uses the host's own Python; nothing to set up"
                           % (device.name, device.connection))
    connector = for_device(device)
    with connector:
        status, out, err = connector.run([connector.python, "-c",
                                          "import platform, sys; print(sys.version_info[0], sys.version_info[1], "
                                          "platform.machine())"])
        if status != 0:
            raise RemoteError("device '%s': %s cannot report its version: %s"
                              % (device.name, connector.python, _last_line(err, status)))
        try:
            major, minor, machine = out.split()
            version = (int(major), int(minor))
        except ValueError:
            raise RemoteError("device '%s': %s reported %r instead of its version"
                              % (device.name, connector.python, out.strip()[:80])) from None
        try:
            packages = pins_for(version, machine, device.runtimes)
        except RemoteError as refused:
            raise RemoteError("device '%s': %s" % (device.name, refused.message), refused.hint) from None
        venv = connector.root + "/venv"
        log("%s: Python %s.%s on %s; creating %s" % (device.name, major, minor, machine, venv))
        status, _, err = connector.run([connector.python, "-m", "venv", venv], timeout_s=300)
        if status != 0:
            raise RemoteError("device '%s': cannot create a venv: %s" % (device.name, _last_line(err, status)),
                              "on Debian/Raspberry Pi OS: sudo apt install python3-venv")
        log("%s: installing %s" % (device.name, " ".join(packages)))
        status, _, err = connector.run([venv + "/bin/python", "-m", "pip", "install", "--quiet"] + packages,
                                       timeout_s=INSTALL_TIMEOUT_S)
        if status != 0:
            raise RemoteError("device '%s': pip install failed: %s" % (device.name, _last_line(err, status)))
        versions = {}
        for runtime in device.runtimes:
            status, out, err = connector.run([venv + "/bin/python", "-c", _import_check(runtime, packages)],
                                             timeout_s=CHECK_TIMEOUT_S)
            if status != 0:
                raise RemoteError("device '%s': %s installed but does not %s: %s"
                                  % (device.name, runtime, "import" if runtime == "onnxruntime" else "run a model",
                                     _last_line(err, status)))
            versions[runtime] = out.strip()
        python = venv + "/bin/python"
        return {"device": device.name, "venv": venv, "python": python, "runtimes": versions,
                "onnxruntime": versions.get("onnxruntime"), "packages": packages,
                "note": None if not device.python else
                "devices.toml sets python = %r; change it to %r to use this venv" % (device.python, python)}
