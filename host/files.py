"""Files the host writes for a person or a CI job to read: whole or not at all."""

import os
import tempfile

from ..shared.errors import UsageError


def write_atomically(path, data, prefix=".edgeshrink-"):
    """Write ``data`` (str or bytes) to ``path`` through a temporary file in the same
    folder, so a reader never sees half a file and a failure leaves the old one.
    A folder that does not exist or cannot be written is the user's to fix: UsageError."""
    folder = os.path.dirname(os.path.abspath(path))
    if not os.path.isdir(folder):
        raise UsageError("cannot write %s: the folder %s does not exist" % (path, folder),
                         "create it or choose another path")
    binary = isinstance(data, bytes)
    try:
        handle, temporary = tempfile.mkstemp(dir=folder, prefix=prefix)
    except OSError as exc:
        raise UsageError("cannot write %s: %s" % (path, exc.strerror or exc), "choose a writable path") from None
    try:
        with os.fdopen(handle, "wb" if binary else "w", **({} if binary else {"encoding": "utf-8"})) as out:
            out.write(data)
        os.replace(temporary, path)
    except OSError as exc:
        os.unlink(temporary)
        raise UsageError("cannot write %s: %s" % (path, exc.strerror or exc), "choose a writable path") from None
    except BaseException:
        os.unlink(temporary)
        raise
