"""The agent as one content-hashed zipapp built from the agent and shared packages.

The build is reproducible (sorted entries, fixed timestamps), so the same source
always gives the same hash and a board that already has it is sent nothing.
"""

import io
import zipfile
from dataclasses import dataclass
from pathlib import Path

from ..agent import AGENT_VERSION
from . import cas, paths

_FIXED_TIME = (2020, 1, 1, 0, 0, 0)
_MAIN = (b"import sys\n"
         b"from edgeshrink.agent.__main__ import main\n"
         b"sys.exit(main())\n")


@dataclass(frozen=True)
class AgentBundle:
    path: Path
    sha256: str
    size: int
    version: str = AGENT_VERSION

    @property
    def remote_name(self):
        return "%s.pyz" % self.sha256


def _source_dirs():
    import edgeshrink.agent
    import edgeshrink.shared

    return {"agent": Path(edgeshrink.agent.__file__).parent,
            "shared": Path(edgeshrink.shared.__file__).parent}


def _entries():
    yield "__main__.py", _MAIN
    yield "edgeshrink/__init__.py", b""
    for package, folder in sorted(_source_dirs().items()):
        for file in sorted(folder.rglob("*.py")):
            if "__pycache__" in file.parts:
                continue
            yield "edgeshrink/%s/%s" % (package, file.relative_to(folder).as_posix()), file.read_bytes()


def build_bytes():
    buffer = io.BytesIO()
    buffer.write(b"#!/usr/bin/env python3\n")
    with zipfile.ZipFile(buffer, "w", compression=zipfile.ZIP_DEFLATED) as archive:
        for name, data in _entries():
            info = zipfile.ZipInfo(name, date_time=_FIXED_TIME)
            info.compress_type = zipfile.ZIP_DEFLATED
            info.external_attr = 0o644 << 16
            archive.writestr(info, data)
    return buffer.getvalue()


def build(cache_dir=None):
    """Build (or reuse) the zipapp in the host cache; returns its path and hash."""
    data = build_bytes()
    folder = Path(cache_dir) if cache_dir else paths.cache_dir() / "agent"
    target, sha = cas.store_bytes(folder, data, ".pyz")
    return AgentBundle(path=target, sha256=sha, size=len(data))
