"""Names host and agent must agree on, defined once.

- the protocol's op names;
- (the evaluation file's keys live with its reader and writer, shared/evaluation.py);
- the suffixes of files in flight under the device root.
"""


class Op:
    """Request ops the agent serves (see protocol.py for the frames that carry them)."""

    PING = "ping"
    FACTS = "facts"
    HAVE_BLOBS = "have_blobs"
    RECEIVE_BLOB = "receive_blob"
    COMMIT_BLOB = "commit_blob"
    BENCH = "bench"
    INSTALL = "install"
    STATUS = "status"
    SHUTDOWN = "shutdown"


class EventKind:
    PROGRESS = "progress"
    MEASUREMENT = "measurement"
    LOG = "log"


# A connector writes an upload to ``<name>.upload`` and renames it to ``<name>`` when
# complete; the agent hashes the growing file (layout.receive_blob). Uploads to the
# incoming folder are named ``<sha256>.<token>.part`` (a token per upload, so two hosts
# pushing one blob never share a file) and never read as blobs.
UPLOAD_SUFFIX = ".upload"
INCOMING_SUFFIX = ".part"


def incoming_name(sha256, token):
    return "%s.%s%s" % (sha256, token, INCOMING_SUFFIX)
