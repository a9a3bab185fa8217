"""`profile`: what a board is, and where each variant's time goes on it.

The board's facts (CPU, its inference-relevant features, memory, runtimes, governors,
thermal zones, power source) and, per variant, the runtime's own per-operator profile.
A variant the runtime cannot profile, or that fails, says why; the others still are.
"""

from dataclasses import dataclass, field
from typing import List, Optional

from ..shared.conventions import Op
from ..shared.errors import EdgeshrinkError, ProtocolError
from ..shared.op_profile import OperatorProfile
from ..shared.records import type_problems
from ..shared.sustained import SustainedRun
from .deploy import ConnectOptions, bench_entry, made_variant, open_session, ship, sustained_in
from .regress.active import active_manifest, source_of, variant_of

DEFAULT_RUNS = 100


@dataclass
class VariantProfile:
    name: str
    runtime: str
    technique: str
    profile: Optional[OperatorProfile] = None
    error: Optional[str] = None

    def to_dict(self):
        return {"name": self.name, "runtime": self.runtime, "technique": self.technique,
                "profile": self.profile.to_dict() if self.profile else None, "error": self.error}


@dataclass
class SustainedAsk:
    """`profile --sustained`: which variant to run continuously afterwards, and how long.
    ``variant`` None: the one installed (--active)."""

    duration_s: float
    bucket_s: float
    variant: Optional[str] = None


@dataclass
class ProfileReport:
    device: str
    facts: dict
    variants: List[VariantProfile] = field(default_factory=list)
    sustained: Optional[SustainedRun] = None

    def to_dict(self):
        return {"device": self.device, "facts": self.facts, "variants": [v.to_dict() for v in self.variants],
                "sustained": self.sustained.to_dict() if self.sustained else None}


def _checked_profile(device, name, data):
    profile = OperatorProfile.from_dict(data) if isinstance(data, dict) else None
    problems = ["not an object"] if profile is None else type_problems(profile)
    if problems:
        raise ProtocolError("device '%s': the agent sent a malformed profile of %s: %s"
                            % (device.name, name, "; ".join(problems[:3])))
    return profile


def profile(device, source, variants, settings, runs=DEFAULT_RUNS, on_event=None, options=None, sustained=None):
    """Profile every made variant on ``device``; a ProfileReport. ``sustained`` (a
    SustainedAsk) then runs one of them continuously in the same session."""
    options = options or ConnectOptions()
    with open_session(device, options) as session:
        return _profile_in(session, source, variants, settings, runs, on_event, options, sustained)


def profile_active(device, settings, runs=DEFAULT_RUNS, on_event=None, options=None, log=None, sustained=None):
    """Profile the variant installed on ``device`` (its manifest names the file, the runtime
    and the source it was judged on: regress/active.py)."""
    options = options or ConnectOptions()
    with open_session(device, options) as session:
        manifest = active_manifest(session)
        source, variant = source_of(manifest, log or (lambda message: None)), variant_of(manifest)
        return _profile_in(session, source, [variant], settings, runs, on_event, options, sustained)


def chosen_for_sustained(variants, ask):
    """The made variant ``ask`` names (the installed one, alone, when it names none), or UsageError."""
    if ask.variant is None and len(variants) == 1:
        return variants[0]
    return made_variant(variants, ask.variant)


def _profile_in(session, source, variants, settings, runs, on_event, options, sustained=None):
    device = session.device
    relay = on_event or (lambda *a: None)
    eval_sha, _ = ship(session, source, [v for v in variants if v.ok])
    report = ProfileReport(device.name, session.hello.facts)
    for variant in variants:
        entry = VariantProfile(variant.name, variant.runtime, variant.manifest.get("technique", "?"))
        report.variants.append(entry)
        if not variant.ok:
            entry.error = "not made: %s" % variant.failure
            continue
        try:
            data = session.call(Op.PROFILE, {
                "variant": bench_entry(variant), "data_blob": eval_sha, "settings": settings.to_dict(),
                "runs": int(runs), "lock_timeout_s": options.lock_timeout_s},
                on_event=lambda kind, event: relay(device.name, kind, event))
            entry.profile = _checked_profile(device, variant.name, data)
        except EdgeshrinkError as failure:
            if failure.code not in ("model", "remote"):
                raise   # the link or the agent is gone: the run cannot go on
            entry.error = failure.message
    if sustained is not None:
        report.sustained = sustained_in(session, source, chosen_for_sustained(variants, sustained), settings,
                                        sustained.duration_s, sustained.bucket_s, relay, options)
    return report
