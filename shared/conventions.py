"""Names host and agent must agree on, defined once.

- the protocol's op names;
- (the evaluation file's keys live with its reader and writer, shared/evaluation.py);
- the suffixes of files in flight under the device root.
"""


import re


def name_pattern(max_length):
    """Names that become path components (device, variant, deployment and upload names):
    letters, digits, '.', '_' and '-', starting with a letter or digit."""
    return re.compile(r"^[A-Za-z0-9][A-Za-z0-9._-]{0,%d}$" % (max_length - 1))


# A name a user gives (a device, a variant) leaves room for the suffixes the agent adds.
USER_NAME = name_pattern(64)


class Op:
    """Request ops the agent serves (see protocol.py for the frames that carry them)."""

    PING = "ping"
    FACTS = "facts"
    HAVE_BLOBS = "have_blobs"
    RECEIVE_BLOB = "receive_blob"
    COMMIT_BLOB = "commit_blob"
    BENCH = "bench"
    SUSTAINED = "sustained"
    PROFILE = "profile"
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
