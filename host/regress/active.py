"""What `regress` measures when no model is given: each device's active deployment.

The board says which deployment is active and hands back its manifest. The manifest
names the file (sha256, runtime, the original's tensor names), the model it was made
from and the data its figures used. The host makes the same source again from those,
so accuracy and agreement are judged as they were when the variant was chosen. A source
this host no longer has, or one that changed, is refused in one line.
"""

import os
from pathlib import Path

from ...shared.conventions import Op
from ...shared.errors import UsageError
from .. import deploy, modelinfo, paths
from ..compress.variants import Variant, dataset_hash
from ..dataset import DEMO_SOURCE


def active_manifest(session):
    """The manifest of the device's active deployment, or a UsageError when none is."""
    status = session.call(Op.STATUS)
    manifest = status.get("manifest") if isinstance(status, dict) else None
    if not status.get("active") or not isinstance(manifest, dict) or not manifest.get("sha256"):
        raise UsageError("device '%s' has no active deployment to check" % session.device.name,
                         "deploy first, or pass MODEL to check a model's variants")
    return manifest


def source_of(manifest, log):
    """The ModelSource the deployed variant was made from, made again on this host."""
    origin = manifest.get("source") or {}
    data = manifest.get("data") or {}
    path = origin.get("path")
    if not path or not os.path.isfile(path) or modelinfo.sha256_file(path) != origin.get("sha256"):
        raise UsageError("the active deployment was made from %s, which this host no longer has as it was"
                         % (path or "an unknown model"), "pass the model as MODEL (and its --data)")
    if data.get("source") == DEMO_SOURCE:
        source = deploy.resolve_model(None, log=log)
    else:
        given = data.get("source")
        data_path = given if given and given != "synthetic" and os.path.isfile(given) else None
        source = deploy.resolve_model(path, data_path, log=log)
    if data.get("sha256") and dataset_hash(source.dataset) != data["sha256"]:
        raise UsageError("the data the active deployment was judged on (%s) is not what this host has now"
                         % (data.get("source") or "unknown"), "pass the model as MODEL with its --data")
    return source


def variant_of(manifest):
    """The deployed variant: its file from this host's cache when still there (else the
    board's own copy is measured, known by its hash)."""
    cached = paths.cache_dir() / "variants" / str(manifest.get("cache_key")) / (
        "model." + manifest.get("format", "onnx"))
    return Variant(manifest.get("name") or "active", Path(cached) if cached.is_file() else None, manifest)
