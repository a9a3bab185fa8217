"""Content-addressed push: send only the blobs the device lacks, verified on arrival.

Each upload goes to ``incoming/<sha>.<token>.part`` and becomes a blob only when the
agent has checked its sha256 and renamed it, so an interrupted upload is never
visible. The agent is asked to receive *before* the bytes are sent, so it hashes them
as they arrive and the check costs no extra pass over the file.
"""

import os
import secrets
from dataclasses import dataclass, field

from ..shared.conventions import Op, incoming_name
from ..shared.errors import TransferError


@dataclass
class PushSummary:
    sent: list = field(default_factory=list)
    skipped: list = field(default_factory=list)
    bytes_sent: int = 0
    bytes_skipped: int = 0

    def to_dict(self):
        return {"sent": len(self.sent), "skipped": len(self.skipped),
                "bytes_sent": self.bytes_sent, "bytes_skipped": self.bytes_skipped}


def push(session, files):
    """``files`` maps sha256 -> local path. Returns what was sent and what was not."""
    summary = PushSummary()
    missing = set(session.call(Op.HAVE_BLOBS, {"sha256": sorted(files)})["missing"])
    for sha, path in sorted(files.items()):
        if sha not in missing:
            summary.skipped.append(sha)
            summary.bytes_skipped += os.path.getsize(path) if path else 0
            continue
        if not path:   # known only by its hash (an installed model the host no longer caches)
            raise TransferError("blob %s is neither on the device nor in this host's cache" % sha[:12],
                                "compress the model again (edgeshrink compress MODEL) or pass MODEL")
        size = os.path.getsize(path)
        # Unique per upload: two hosts pushing one blob to a board at the same moment
        # must not write into the same file (each verifies and renames its own).
        incoming = incoming_name(sha, secrets.token_hex(4))
        receiving = session.send(Op.RECEIVE_BLOB, {"sha256": sha, "incoming": incoming, "size": size})
        try:
            summary.bytes_sent += session.upload(path, "incoming/" + incoming)
        except BaseException:
            session.close()  # the agent is still waiting for these bytes: end the session
            raise
        session.wait(receiving, Op.RECEIVE_BLOB)
        summary.sent.append(sha)
    return summary
