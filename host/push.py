"""Content-addressed push: send only the blobs the device lacks, verified on arrival.

Each upload goes to ``incoming/<sha>.part`` and becomes a blob only when the agent
has checked its sha256 and renamed it, so an interrupted upload is never visible.
The agent is asked to receive *before* the bytes are sent, so it hashes them as they
arrive and the check costs no extra pass over the file.
"""

import os
from dataclasses import dataclass, field


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
    missing = set(session.call("have_blobs", {"sha256": sorted(files)})["missing"])
    for sha, path in sorted(files.items()):
        size = os.path.getsize(path)
        if sha not in missing:
            summary.skipped.append(sha)
            summary.bytes_skipped += size
            continue
        incoming = "%s.part" % sha
        receiving = session.send("receive_blob", {"sha256": sha, "incoming": incoming, "size": size})
        try:
            summary.bytes_sent += session.connector.upload(path, "incoming/" + incoming)
        except BaseException:
            session.close()  # the agent is still waiting for these bytes: end the session
            raise
        session.wait(receiving, "receive_blob")
        summary.sent.append(sha)
    return summary
