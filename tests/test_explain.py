"""Explanations of a decision: every clause from measured evidence, and said missing
when it is (host/explain.py)."""

import json
from types import SimpleNamespace

from edgeshrink.host.explain import annotate, explain, feature_evidence
from edgeshrink.shared.decision import CandidateVerdict, Decision
from edgeshrink.shared.measurement import Figure
from edgeshrink.shared.op_profile import OperatorProfile, OperatorTime

from .conftest import FAST_FLAGS, REPO, cli

NO_VNNI = {"family": "x86", "present": ["avx2", "fma", "f16c"], "absent": ["avx512_vnni", "avx_vnni", "amx_int8",
                                                                          "avx512_fp16"], "source": "/proc/cpuinfo"}
PI5 = {"family": "arm", "present": ["asimd", "asimddp", "fphp", "asimdhp"], "absent": ["i8mm"],
       "source": "/proc/cpuinfo"}


def profile(*rows, main_input_types=None):
    total = sum(ms for _, ms in rows)
    return OperatorProfile(available=True, runs=30, by_op_type=[
        OperatorTime(op=op, ms_per_run=ms, nodes=1, share=ms / total,
                     input_types=main_input_types if index == 0 else None) for index, (op, ms) in enumerate(rows)])


def result(name, technique, p50, operators):
    measurement = SimpleNamespace(ok=True, operators=operators,
                                  figure=lambda figure: Figure(figure, p50 if figure == "p50_ms" else None))
    return SimpleNamespace(name=name, manifest={"technique": technique}, measurement=measurement)


def test_an_int8_win_names_its_main_operator_the_added_ones_and_the_cpu():
    fp32 = result("fp32", "fp32", 1.2, profile(("Conv", 1.1), ("Gemm", 0.05)))
    int8 = result("int8-static", "int8-static", 0.55, profile(("QLinearConv", 0.5), ("QuantizeLinear", 0.05),
                                                             ("DequantizeLinear", 0.02)))
    text = explain(int8, fp32, NO_VNNI)
    assert text.startswith("int8-static 2.18x faster than fp32 at p50 (0.550 vs 1.200 ms)")
    assert "QLinearConv is 88% of its operator time (0.500 ms per run vs Conv's 1.100 ms in fp32)" in text
    assert "other operators fp32 does not have (QuantizeLinear, DequantizeLinear) take 12%" in text
    assert "this CPU has no int8 dot-product instructions (none of avx512_vnni, avx_vnni, amx_int8)" in text


def test_a_slower_fp16_says_so_and_what_the_cpu_has():
    fp32 = result("fp32", "fp32", 1.0, profile(("Conv", 0.9)))
    fp16 = result("fp16", "fp16", 1.25, profile(("Conv", 0.9), ("Cast", 0.2), ("ReorderInput", 0.1)))
    text = explain(fp16, fp32, PI5)
    assert text.startswith("fp16 1.25x slower than fp32 at p50")
    assert "(Cast, ReorderInput) take 25%" in text
    assert "this CPU has fphp (fp16 scalar arithmetic), asimdhp (fp16 SIMD arithmetic)" in text


def test_an_fp16_variant_says_whether_its_main_operator_really_ran_in_float16():
    fp32 = result("fp32", "fp32", 1.0, profile(("Conv", 0.9)))
    converted = result("fp16", "fp16", 1.2, profile(("Conv", 0.85), ("Cast", 0.15), main_input_types=["float"]))
    text = explain(converted, fp32, {"family": "x86", "present": ["avx512_fp16"], "absent": [], "source": "cpuinfo"})
    assert ("its Conv ran on float32 tensors, not float16 (the profile's input types): the runtime converted back "
            "around it, so fp16 instructions did not apply to it; this CPU has avx512_fp16") in text, text
    native = result("fp16", "fp16", 0.7, profile(("Conv", 0.6), main_input_types=["float16"]))
    assert "its Conv ran on float16 tensors (the profile's input types)" in explain(native, fp32, PI5)
    mixed = result("fp16", "fp16", 0.9, profile(("Conv", 0.8), main_input_types=["float", "float16"]))
    assert "its Conv ran partly on float16 tensors (inputs of float32, float16" in explain(mixed, fp32, PI5)
    # No recorded types (an older agent or runtime): nothing is said about them.
    assert "tensors" not in explain(result("fp16", "fp16", 1.2, profile(("Conv", 0.9))), fp32, PI5)
    # Only fp16 variants get the clause.
    int8 = result("int8", "int8-static", 0.5, profile(("QLinearConv", 0.4), main_input_types=["uint8", "float"]))
    assert "tensors" not in explain(int8, fp32, NO_VNNI)


def test_missing_evidence_is_said_not_guessed():
    fp32 = result("fp32", "fp32", 1.0, profile(("Conv", 0.9)))
    no_profile = result("tflite-int8", "tflite-int8-static", 0.8, OperatorProfile(
        available=False, reason="the TFLite/LiteRT Python interpreter exposes no per-operator timing"))
    text = explain(no_profile, fp32, {"source": "not read: no feature list for a riscv64 CPU"})
    assert "no per-operator evidence (the TFLite/LiteRT Python interpreter exposes no per-operator timing)" in text
    assert "int8 features are not known (not read: no feature list for a riscv64 CPU)" in text
    assert feature_evidence("prune50", NO_VNNI) is None          # no feature bears on pruning
    no_baseline_profile = explain(result("int8", "int8-dynamic", 2.0, profile(("ConvInteger", 1.8))),
                                  result("fp32", "fp32", 1.0, None), NO_VNNI)
    assert "fp32 has no profile to compare with" in no_baseline_profile


def test_annotate_explains_every_measured_variant_but_the_baseline():
    fp32 = result("fp32", "fp32", 1.0, profile(("Conv", 0.9)))
    int8 = result("int8", "int8-dynamic", 2.0, profile(("ConvInteger", 1.8)))
    decision = Decision(chosen="fp32", baseline="fp32", variants=[CandidateVerdict(name="fp32"),
                                                                 CandidateVerdict(name="int8")])
    annotate(decision, [fp32, int8], {"cpu_features": NO_VNNI})
    assert decision.variant("fp32").explanation is None
    assert decision.variant("int8").explanation.startswith("int8 2.00x slower than fp32")


def test_a_deploy_explains_its_decision_from_the_boards_profiles(host_env, tiny_model):
    result_ = cli(host_env, REPO / "devices.toml", "deploy", "-d", "local", str(tiny_model), "--json", "--no-install",
                  *FAST_FLAGS)
    assert result_.returncode == 0, result_.stderr
    document = json.loads(result_.stdout)
    verdicts = {v["name"]: v for v in document["decision"]["variants"]}
    measured = {v["name"]: v["measurement"] for v in document["variants"]}
    assert verdicts["fp32"]["explanation"] is None
    for name in ("fp16", "int8-dynamic", "int8-static"):
        text = verdicts[name]["explanation"]
        assert " than fp32 at p50 " in text and "of its operator time" in text, text
        assert "this CPU has" in text, text
        assert measured[name]["operators"]["available"], measured[name]["operators"]
    # Whether fp16's main operator ran in float16 depends on the CPU and the runtime; the
    # profile recorded which, and the explanation says it.
    assert "tensors" in verdicts["fp16"]["explanation"] and "(the profile's input types)" in \
        verdicts["fp16"]["explanation"], verdicts["fp16"]["explanation"]
    top = measured["fp16"]["operators"]["by_op_type"][0]
    assert top["input_types"] and all(isinstance(name, str) for name in top["input_types"]), top
    # The profiler's own cost is measured once per deploy, with the first variant, and
    # taken out of every variant's operators alike.
    costs = [measured[name]["operators"]["profiler_cost"] for name in measured]
    assert costs[0] and costs[0]["per_node_us"] > 0 and all(cost == costs[0] for cost in costs), costs
