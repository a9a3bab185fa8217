"""Measured results the store could not take, kept until it can.

Measuring a board costs minutes; a store that fails afterwards (locked past its wait,
full, read-only, replaced) must not throw that away. The run, or a decision update
for a stored run, is written as one JSON file under ``<data dir>/spool`` (written
aside and renamed: whole or absent), with the store it was meant for. The next
command that opens that store imports every file meant for it, in the order written,
and says so; a file is removed only after its import committed.
"""

import json
import os
import time

from ..shared.decision import Decision
from ..shared.errors import StoreError
from . import paths
from .runs import Run

RUN, DECISION = "run", "decision"


def folder():
    return paths.data_dir() / "spool"


def keep(store_identity, kind, payload):
    """Write one spool file; returns its path (StoreError if even that fails)."""
    target_dir = folder()
    name = "%.6f-%d-%s.json" % (time.time(), os.getpid(), kind)
    document = {"store": store_identity, "kind": kind, "payload": payload}
    try:
        target_dir.mkdir(parents=True, exist_ok=True)
        staging = target_dir / (name + ".tmp")
        staging.write_text(json.dumps(document, sort_keys=True))
        os.replace(staging, target_dir / name)
    except OSError as exc:
        raise StoreError("the results store failed and the run could not be kept in %s either: %s"
                         % (target_dir, exc)) from None
    return target_dir / name


def keep_run(store, run, failure):
    """Keep a measured run the store refused; the StoreError to raise names where it went."""
    path = keep(store.identity, RUN, run.to_dict())
    return StoreError("%s; the measured run was kept in %s and the next command that opens the store "
                      "imports it" % (failure.message, path), failure.hint)


def keep_decision(store, run_id, decision, status, failure):
    path = keep(store.identity, DECISION, {"run_id": run_id, "status": status,
                                       "decision": decision.to_dict() if decision else None})
    return StoreError("%s; the install record of run #%s was kept in %s and the next command that opens "
                      "the store imports it" % (failure.message, run_id, path), failure.hint)


def pending(store_identity):
    """Spool files meant for this store, oldest first."""
    wanted = store_identity
    found = []
    for path in sorted(folder().glob("*.json")) if folder().is_dir() else []:
        try:
            document = json.loads(path.read_text())
        except (OSError, ValueError):
            continue   # unreadable: left for a person to look at, never guessed at
        if isinstance(document, dict) and document.get("store") == wanted:
            found.append((path, document))
    return found


def import_into(store):
    """Import every spooled run and decision for ``store``; the lines saying what was done."""
    said = []
    for path, document in pending(store.identity):
        kind, payload = document.get("kind"), document.get("payload") or {}
        if kind == RUN:
            run = Run.from_dict(payload)
            run_id = store.save_run(run)
            said.append("imported run #%d (%s, measured %s) from %s" % (
                run_id, run.device, time.strftime("%Y-%m-%d %H:%M", time.localtime(run.started_at)), path))
        elif kind == DECISION:
            decision = payload.get("decision")
            store.set_decision(payload["run_id"], Decision.from_dict(decision) if decision else None,
                               payload.get("status"))
            said.append("imported the install record of run #%s from %s" % (payload["run_id"], path))
        else:
            continue
        os.unlink(path)
    return said
