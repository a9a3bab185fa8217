"""`devices setup`: a venv under the device root with the runtime the agent needs.

Versions are pinned per board Python so that the wheels exist (onnxruntime dropped
Python 3.8 and 3.9 after 1.19.2, and 3.10 after 1.23.2). onnxruntime publishes
wheels for x86_64 and aarch64 Linux; on 32-bit ARM there is none to install.
"""

from ..shared.errors import ConnectError, RemoteError
from .connectors import for_device

PINS = {
    (3, 8): ["onnxruntime==1.19.2", "numpy==1.24.4", "psutil==7.2.2"],
    (3, 9): ["onnxruntime==1.19.2", "numpy==2.0.2", "psutil==7.2.2"],
    (3, 10): ["onnxruntime==1.23.2", "numpy==2.2.6", "psutil==7.2.2"],
}
NEWEST = ["onnxruntime==1.32.0", "numpy>=1.26,<3", "psutil==7.2.2"]
WHEEL_ARCHES = ("x86_64", "aarch64", "arm64", "amd64")
INSTALL_TIMEOUT_S = 1800


def pins_for(version, machine):
    if machine.lower() not in WHEEL_ARCHES:
        raise RemoteError("onnxruntime publishes no wheels for %s boards; install a 64-bit OS "
                          "(aarch64) or build onnxruntime from source there" % machine)
    return PINS.get(tuple(version[:2]), NEWEST)


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
                              % (device.name, connector.python, err.strip()[-300:] or "exit status %d" % status))
        major, minor, machine = out.split()
        packages = pins_for((int(major), int(minor)), machine)
        venv = connector.root + "/venv"
        log("%s: Python %s.%s on %s; creating %s" % (device.name, major, minor, machine, venv))
        status, _, err = connector.run([connector.python, "-m", "venv", venv], timeout_s=300)
        if status != 0:
            raise RemoteError("device '%s': cannot create a venv: %s" % (device.name, err.strip().splitlines()[-1:]),
                              "on Debian/Raspberry Pi OS: sudo apt install python3-venv")
        log("%s: installing %s" % (device.name, " ".join(packages)))
        status, _, err = connector.run([venv + "/bin/python", "-m", "pip", "install", "--quiet"] + packages,
                                       timeout_s=INSTALL_TIMEOUT_S)
        if status != 0:
            raise RemoteError("device '%s': pip install failed: %s" % (device.name, err.strip()[-300:]))
        status, out, err = connector.run([venv + "/bin/python", "-c",
                                          "import onnxruntime, numpy; print(onnxruntime.__version__)"])
        if status != 0:
            raise RemoteError("device '%s': onnxruntime installed but does not import: %s"
                              % (device.name, err.strip()[-300:]))
        python = venv + "/bin/python"
        return {"device": device.name, "venv": venv, "python": python, "onnxruntime": out.strip(),
                "packages": packages,
                "note": None if not device.python else
                "devices.toml sets python = %r; change it to %r to use this venv" % (device.python, python)}
