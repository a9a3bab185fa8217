"""Compression fan-out (issue 14, item 3): variants are independent jobs run here, in a
local process pool or on Ray; a job that fails, even one that kills its worker, fails
only itself, and the variants and their cache are the same whichever ran them."""

import json

import pytest

from edgeshrink.host import deploy
from edgeshrink.host.compress import variants
from edgeshrink.host.compress.executors import ExecutorChoice, run
from edgeshrink.host.lab.sample_jobs import square_or_fail
from edgeshrink.shared.errors import UsageError

JOBS = [2, "raise", 3, "die", 4]
CONTEXT = {"offset": 100}

EXECUTOR_CHOICES = [
    pytest.param(ExecutorChoice("process", 2), id="process-pool"),
    pytest.param(ExecutorChoice("ray", 2), id="ray", marks=pytest.mark.slow),
]


@pytest.mark.parametrize("choice", EXECUTOR_CHOICES)
def test_each_job_gets_its_own_outcome_and_a_dying_worker_fails_only_its_job(choice):
    finished = []
    outcomes = run(square_or_fail, CONTEXT, JOBS, choice, log=None, on_done=lambda i, o: finished.append(i))
    assert [o.value for o in outcomes] == [104, None, 109, None, 116]
    assert outcomes[1].error == "RuntimeError: this job was asked to fail"
    assert "died" in outcomes[3].error or "failed" in outcomes[3].error, outcomes[3].error
    assert outcomes[0].error is None and outcomes[0].log_lines == ["squared 2"]
    assert sorted(finished) == [0, 1, 2, 3, 4]


def test_in_this_process_lines_are_logged_as_they_come_and_errors_kept():
    lines = []
    outcomes = run(square_or_fail, CONTEXT, [5, "raise"], ExecutorChoice(), log=lines.append)
    assert [o.value for o in outcomes] == [125, None] and lines == ["squared 5"]
    assert "asked to fail" in outcomes[1].error


@pytest.mark.parametrize("choice, says", [
    (ExecutorChoice("dask", 2), "--executor dask"),
    (ExecutorChoice("process", 0), "--jobs 0"),
    (ExecutorChoice("process", 2, "10.0.0.1:6379"), "--ray-address is for --executor ray"),
])
def test_bad_executor_choices_are_refused(choice, says):
    with pytest.raises(UsageError, match=says):
        choice.check()


def _made(tmp_path, name, choice, log=None):
    source = deploy.resolve_model(None, log=lambda m: None)
    return variants.make_variants(source.path, source.dataset, variants.default_specs(),
                                  cache_dir=tmp_path / name, log=log or (lambda m: None),
                                  torch_source=None, executor=choice)


def _fingerprint(made):
    """What must not depend on who made a variant: its file, cache folder and figures."""
    rows = []
    for variant in made:
        manifest = dict(variant.manifest)
        for varying in ("compress_seconds", "lineage", "host_timing", "flags"):
            manifest.pop(varying, None)   # wall-clock times and what they flag
        rows.append((variant.name, variant.path.parent.name, json.dumps(manifest, sort_keys=True)))
    return rows


@pytest.fixture(scope="module")
def made_here(demo, shared_cache, tmp_path_factory):
    """The demo's variants made in this process, once: both executors are held to them."""
    with pytest.MonkeyPatch.context() as patch:
        patch.setenv("EDGESHRINK_CACHE", str(shared_cache))
        return _made(tmp_path_factory.mktemp("made"), "here", ExecutorChoice())


@pytest.mark.slow
@pytest.mark.parametrize("choice", EXECUTOR_CHOICES)
def test_variants_and_cache_are_the_same_whoever_makes_them(made_here, host_env, tmp_path, choice):
    here = made_here
    elsewhere = _made(tmp_path, "elsewhere", choice)
    assert all(v.ok for v in here) and len(here) == 4
    assert _fingerprint(elsewhere) == _fingerprint(here)
    assert [v.manifest["sha256"] for v in elsewhere] == [v.manifest["sha256"] for v in here]
    again = []
    _made(tmp_path, "elsewhere", choice, log=again.append)   # a second run finds them all cached
    assert not any(line.startswith("compress: ") and "cached" not in line for line in again), again
