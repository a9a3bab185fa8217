"""The ``install`` and ``status`` ops: health check of the staged model, then an atomic switch."""

import json
import os
import shutil

from ..shared.decision import InstallOutcome
from ..shared.errors import EdgeshrinkError, RemoteError, describe_os_error
from .children import run_child
from .layout import check_name, check_sha

MANIFEST = "manifest.json"
# The deployed file's name says its format, so an application on the board opens it with
# the right runtime; unknown runtimes keep the ONNX name of deployments made before.
MODEL_FILES = {"onnxruntime": "model.onnx", "tflite": "model.tflite"}


def model_file(runtime):
    return MODEL_FILES.get(runtime, MODEL_FILES["onnxruntime"])
CHECK_TIMEOUT_S = 300


def _stage(root, name, blob_path, manifest, file_name):
    """Create deployments/<name> complete, or not at all (build aside, then rename)."""
    target = os.path.join(root.deployments, name)
    if os.path.isdir(target):
        return target
    staging = target + ".staging"
    shutil.rmtree(staging, ignore_errors=True)
    try:
        os.makedirs(staging)
        try:
            os.link(blob_path, os.path.join(staging, file_name))
        except OSError:  # a filesystem without hard links
            shutil.copyfile(blob_path, os.path.join(staging, file_name))
        with open(os.path.join(staging, MANIFEST), "w") as handle:
            json.dump(manifest, handle, indent=2, sort_keys=True)
        os.rename(staging, target)
    except OSError as exc:
        # A full or read-only disk: nothing half-made stays, the active model is untouched.
        shutil.rmtree(staging, ignore_errors=True)
        raise RemoteError("cannot stage %s under %s: %s" % (name, root.deployments, describe_os_error(exc)),
                          "free space on the device")
    return target


def health_check(root, name, runtime, threads, request_id, data_path=None, io_names=None):
    # With the evaluation file, the check runs a real sample at the shapes the
    # measurement used; without it, inputs made from the model's input spec.
    job = {"request_id": request_id, "variant": name, "runtime": runtime, "mode": "check",
           "model_path": os.path.join(root.deployments, name, model_file(runtime)), "data_path": data_path,
           "settings": {"threads": threads}, "io_names": io_names}
    return run_child(job, lambda frame: None, CHECK_TIMEOUT_S)


def install(root, request_id, args, send_event):
    """args: {name, blob, manifest, runtime?, threads?, data_blob?, io_names?}. Checks that the staged
    deployment loads and runs, and only then switches ``active`` to it: an agent killed at
    any moment leaves ``active`` on a model that passed its check."""
    name = check_name(args.get("name"))
    blob_path = root.require_blob(check_sha(args.get("blob")))
    data_path = root.require_blob(check_sha(args["data_blob"])) if args.get("data_blob") else None
    runtime = args.get("runtime", "onnxruntime")
    threads = int(args.get("threads", 1))
    with root.locked(float(args.get("lock_timeout_s", 600))):
        _stage(root, name, blob_path, args.get("manifest") or {}, model_file(runtime))
        previous = root.active_name()
        send_event(request_id, "progress", {"phase": "health_check", "variant": name})
        try:
            check = health_check(root, name, runtime, threads, request_id, data_path, args.get("io_names"))
        except EdgeshrinkError as exc:
            # Never switched: the previous deployment stays active.
            return InstallOutcome(installed=False, rolled_back=False, active=previous, previous=previous,
                                  attempted=name,
                                  check={"ok": False, "code": exc.code, "message": exc.message}).to_dict()
        root.switch_active(name)
    return InstallOutcome(installed=True, rolled_back=False, active=name, previous=previous,
                          attempted=name, check=check).to_dict()


def status(root, request_id, args, send_event):
    active = root.active_name()
    manifest = None
    if active:
        try:
            with open(os.path.join(root.deployments, active, MANIFEST)) as handle:
                manifest = json.load(handle)
        except (OSError, ValueError):
            manifest = None
    deployments = sorted(d for d in os.listdir(root.deployments)
                         if not d.endswith(".staging")) if os.path.isdir(root.deployments) else []
    return {"root": root.root, "active": active, "manifest": manifest, "deployments": deployments}
