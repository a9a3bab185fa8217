"""Files named by their content's sha256, written atomically (temp name, then rename)."""

import hashlib
import os
from pathlib import Path


def store_bytes(folder, data, suffix):
    """Keep ``data`` as ``<folder>/<sha256><suffix>``; returns (path, sha256)."""
    sha = hashlib.sha256(data).hexdigest()
    folder = Path(folder)
    folder.mkdir(parents=True, exist_ok=True)
    target = folder / (sha + suffix)
    if not target.exists():
        temporary = folder / ("%s.tmp%d" % (sha, os.getpid()))
        temporary.write_bytes(data)
        os.replace(temporary, target)
    return target, sha
