"""One float .tflite per PyTorch model, shared by the TFLite variants made from it.

Every TFLite variant without PyTorch steps starts from the same litert-torch export of
the unchanged model, and that conversion is most of a variant's making (4 to 6 s for the
demo here, against well under a second for a quantizer). The export is deterministic,
so it is made once, kept under the variant cache keyed by what it depends on (the
weights, the input shape and the converter's versions), and copied for each variant.

Variants made at the same time in other processes (--jobs, Ray on this host) take turns
on a lock file: the first converts, the others find its file. A half-written export is
never seen: it is written beside its place and renamed into it.
"""

import fcntl
import hashlib
import json
import os
import shutil
from pathlib import Path

FILE_NAME = "model.tflite"


def export_key(torch_source, versions):
    """What the float export depends on, hashed."""
    key = {"torch": torch_source.state_sha, "input_shape": list(torch_source.input_shape), "versions": versions}
    return hashlib.sha256(json.dumps(key, sort_keys=True).encode()).hexdigest()[:32]


def float_tflite(torch_source, folder, target, export):
    """Put the model's float .tflite at ``target``: copied from ``folder`` when it was
    exported before, else made with ``export(model, input_shape, path)`` and kept there.
    Returns True when it was reused."""
    folder = Path(folder)
    folder.mkdir(parents=True, exist_ok=True)
    kept = folder / FILE_NAME
    with open(folder / "lock", "w") as lock:
        fcntl.flock(lock, fcntl.LOCK_EX)   # released when the file closes, or the process dies
        reused = kept.exists()
        if not reused:
            partial = folder / ("%s.tmp%d" % (FILE_NAME, os.getpid()))
            try:
                export(torch_source.fresh(), torch_source.input_shape, partial)
                os.replace(partial, kept)
            finally:
                if partial.exists():
                    partial.unlink()
        shutil.copyfile(kept, target)
    return reused
