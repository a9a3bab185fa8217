"""`edgeshrink status`: what is installed and active on a device."""

from .. import deploy as jobs
from .. import render
from . import common
from .options import AcceptNewHostKey, DeviceName, JsonFlag


@common.command
def status(device: DeviceName, accept_new_host_key: AcceptNewHostKey = False, as_json: JsonFlag = False):
    """Show what is installed and active on a device."""
    target = common.find_device(device)
    result = jobs.status(target, jobs.ConnectOptions(accept_new_host_key=accept_new_host_key))
    if not as_json:
        render.status_view(target.name, result)
    return result
