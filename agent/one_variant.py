"""What the one-variant ops (``sustained``, ``profile``) share: their arguments checked in
one go, the device lock with a note while waiting, and the measuring child's job."""

from ..shared.errors import ProtocolError
from ..shared.types import BenchSettings
from .layout import check_name, check_sha


def checked(args, what, problems):
    """(settings, variant) of a one-variant request; every problem (``problems`` are the
    op's own) refused together in one ProtocolError."""
    settings = BenchSettings.from_dict(args.get("settings"))
    problems = settings.validate() + list(problems)
    variant = args.get("variant")
    if not isinstance(variant, dict):
        problems.append("variant must be {name, blob}")
    if problems:
        raise ProtocolError("bad %s settings: %s" % (what, "; ".join(problems)))
    check_name(variant.get("name"))
    check_sha(variant.get("blob"))
    return settings, variant


def locked(root, request_id, args, send_event):
    """The device lock for a request, telling the host while another run holds it."""
    return root.locked(float(args.get("lock_timeout_s", 600)), lambda holder: send_event(
        request_id, "log", {"message": "waiting for the device lock (%s)" % holder}))


def child_job(root, request_id, args, variant, settings, **extra):
    """The measuring child's job for ``variant`` (agent/measure.py), plus the pass's own keys."""
    job = {"request_id": request_id, "variant": variant["name"],
           "runtime": variant.get("runtime") or args.get("runtime", "onnxruntime"),
           "model_path": root.require_blob(variant["blob"]),
           "data_path": root.require_blob(args["data_blob"]) if args.get("data_blob") else None,
           "settings": settings.to_dict(), "io_names": variant.get("io_names")}
    job.update(extra)
    return job
