"""`devices setup`: a venv under the device root with the runtime the agent needs.

Versions are pinned per board Python so that the wheels exist (onnxruntime dropped
Python 3.8 and 3.9 after 1.19.2, and 3.10 after 1.23.2). onnxruntime publishes
wheels for x86_64 and aarch64 Linux; on 32-bit ARM there is none to install.
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
WHEEL_ARCHES = ("x86_64", "aarch64", "arm64", "amd64")
INSTALL_TIMEOUT_S = 1800


def pins_for(version, machine):
    if machine.lower() not in WHEEL_ARCHES:
        raise RemoteError("onnxruntime publishes no wheels for %s boards; install a 64-bit OS "
                          "(aarch64) or build onnxruntime from source there" % machine)
    pins = PINS.get(tuple(version[:2]))
    if pins is None:
        raise RemoteError("no pinned runtime versions for Python %d.%d (edgeshrink pins %s)"
                          % (version[0], version[1], ", ".join("%d.%d" % v for v in sorted(PINS))),
                          "point python in devices.toml at one of those versions")
    return list(pins)


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
        packages = pins_for(version, machine)
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
        status, out, err = connector.run([venv + "/bin/python", "-c",
                                          "import onnxruntime, numpy; print(onnxruntime.__version__)"])
        if status != 0:
            raise RemoteError("device '%s': onnxruntime installed but does not import: %s"
                              % (device.name, _last_line(err, status)))
        python = venv + "/bin/python"
        return {"device": device.name, "venv": venv, "python": python, "onnxruntime": out.strip(),
                "packages": packages,
                "note": None if not device.python else
                "devices.toml sets python = %r; change it to %r to use this venv" % (device.python, python)}
