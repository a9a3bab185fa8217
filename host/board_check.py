"""`devices check`: can edgeshrink work with this board, and what is on it?"""

from ..shared.errors import EdgeshrinkError
from .deploy import open_session, require_runtime


def check(device, options=None):
    """Connect, bootstrap the agent, read its facts. Raises the first problem found."""
    with open_session(device, options) as session:
        facts = session.hello.facts
        row = {
            "device": device.name, "connection": session.describe(),
            "python": facts.get("python"), "agent_version": session.hello.agent_version,
            "agent_sent_bytes": session.agent_bytes_sent, "machine": facts.get("machine"),
            "board": facts.get("board") or facts.get("cpu_model"),
            "cpu_count": facts.get("cpu_count"), "cpu_features": facts.get("cpu_features") or {},
            "limits": facts.get("limits"),
            "mem_available_mb": facts.get("mem_available_mb"), "disk_free_mb": facts.get("disk_free_mb"),
            "runtimes": facts.get("runtimes", {}), "root": session.root,
        }
        try:
            require_runtime(session)
        except EdgeshrinkError as exc:
            exc.details.update(row)  # what was learned before the problem, for the table
            raise
        return row
