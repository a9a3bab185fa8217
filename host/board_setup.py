"""`devices setup`: a venv under the device root with the runtimes the agent needs.

Versions are pinned per board Python so that the wheels exist (onnxruntime dropped
Python 3.8 and 3.9 after 1.19.2, and 3.10 after 1.23.2). onnxruntime publishes
wheels for x86_64 and aarch64 Linux; on 32-bit ARM there is none to install.

TensorFlow Lite comes from whichever interpreter has wheels for the board (checked
against the package index with ``pip download --platform``, 2026-11):
ai-edge-litert 2.3.0 for Python 3.10 to 3.14 and 2.1.0 for 3.9 (x86_64 and aarch64;
none for 3.8); on 3.8 (JetPack 5) only tflite-runtime, whose last aarch64 wheel is
2.13.0 (2.14.0 is x86_64 only), with numpy < 2 as it needs.
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
# Run on the board after installing: each runtime's version, or a failure.
_IMPORT_CHECKS = {
    "onnxruntime": "import onnxruntime, numpy; print(onnxruntime.__version__)",
    "tflite": ("import importlib\n"
               "from importlib.metadata import version\n"
               "for module, dist in (('ai_edge_litert.interpreter', 'ai-edge-litert'), "
               "('tflite_runtime.interpreter', 'tflite-runtime')):\n"
               "    try:\n"
               "        importlib.import_module(module)\n"
               "    except ImportError:\n"
               "        continue\n"
               "    print(dist, version(dist))\n"
               "    break\n"
               "else:\n"
               "    raise SystemExit('no TensorFlow Lite interpreter imports')\n"),
}


def pins_for(version, machine, runtimes=("onnxruntime",)):
    """Exact pins for a board's Python ``version`` and ``machine`` with ``runtimes``:
    numpy and psutil (the agent's own needs) and each runtime's package."""
    arch = MACHINES.get(machine.lower())
    if arch is None:
        raise RemoteError("no wheels of %s exist for %s boards; install a 64-bit OS (aarch64) or build it from "
                          "source there" % (" or ".join(_package_names(runtimes)), machine))
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


def _last_line(text, status):
    """The one line of a remote tool's error output worth showing (the last one)."""
    lines = [line.strip() for line in (text or "").splitlines() if line.strip()]
    return lines[-1][-300:] if lines else "exit status %d" % status


def setup(device, log=print):
    """Create <root>/venv on an SSH board and install the pinned runtime into it."""
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
        packages = pins_for(version, machine, device.runtimes)
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
            status, out, err = connector.run([venv + "/bin/python", "-c", _IMPORT_CHECKS[runtime]])
            if status != 0:
                raise RemoteError("device '%s': %s installed but does not import: %s"
                                  % (device.name, runtime, _last_line(err, status)))
            versions[runtime] = out.strip()
        python = venv + "/bin/python"
        return {"device": device.name, "venv": venv, "python": python, "runtimes": versions,
                "onnxruntime": versions.get("onnxruntime"), "packages": packages,
                "note": None if not device.python else
                "devices.toml sets python = %r; change it to %r to use this venv" % (device.python, python)}
