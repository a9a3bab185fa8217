"""Task metrics on arrays, their defaults, the --metric parser, and the data format with
sample axes and inputs given once."""

import numpy as np
import pytest
from hypothesis import given, settings, strategies as st

from edgeshrink.host import dataset, metrics
from edgeshrink.host.modelinfo import TensorSpec
from edgeshrink.shared.errors import EdgeshrinkError, ModelError, UsageError
from edgeshrink.shared.fidelity import compare_outputs
from edgeshrink.shared.task_metrics import MetricSpec, default_spec, judge


def test_defaults_follow_shape_and_name_and_say_why():
    assert default_spec("logits", [1, 10], "float32").kind == "classification"
    assert default_spec("logits", [26, 1, 37], "float32").kind == "sequence"
    prob_map = default_spec("maps", [1, 1, 64, 64], "float32", 0.0, 1.0)
    assert prob_map.kind == "map" and prob_map.threshold == 0.5 and "within [0, 1]" in prob_map.chosen_by
    assert default_spec("maps", [1, 1, 64, 64], "float32", -7.0, 5.0).threshold == 0.0
    assert default_spec("state_out", [2, 1, 64], "float32").kind == "cosine"
    assert default_spec("score", [1, 1], "float32").kind == "cosine"
    assert default_spec("label", [1], "int64").kind == "sequence"
    assert "embedding pass --metric emb=cosine" in default_spec("emb", [1, 128], "float32").chosen_by


def test_sequence_agreement_decodes_ctc_and_ignores_repeats_and_blanks():
    rng = np.random.RandomState(0)
    reference = rng.standard_normal((4, 6, 1, 5)).astype(np.float32)
    tokens = reference.argmax(-1)
    shifted = reference.copy()
    # Sample 0: a repeat becomes a blank-free duplicate: positions differ, decoded text may not.
    shifted[0, :, 0, :] = -10.0
    for t, token in enumerate([1, 1, 0, 2, 2, 3]):
        shifted[0, t, 0, token] = 10.0
    reference[0] = shifted[0]
    reference[0, 1, 0, :] = -10.0
    reference[0, 1, 0, 0] = 10.0         # the reference has a blank where the variant repeats 1
    record = judge(MetricSpec("y", "sequence", blank=0), shifted, reference)
    assert record.score == 1.0 and record.position_agreement < 1.0
    assert judge(MetricSpec("y", "sequence"), shifted, reference).score == 0.75   # without decoding: differ
    assert tokens.shape == (4, 6, 1)


def test_map_iou_sees_moved_regions_that_cosine_hides():
    reference = np.full((3, 1, 1, 8, 8), 0.45, dtype=np.float32)
    reference[:, :, :, :4, :] = 0.55
    variant = reference + 0.1                 # everything above 0.5 now
    record = judge(MetricSpec("m", "map", threshold=0.5), variant, reference)
    assert record.cosine_mean > 0.99 and record.score == 0.5 and record.iou_min == 0.5
    empty = judge(MetricSpec("m", "map", threshold=0.9), variant, reference)
    assert empty.score == 1.0                 # nothing on in either: they agree


def test_every_output_is_compared_and_labels_go_to_the_classification_output():
    rng = np.random.RandomState(1)
    scores = rng.standard_normal((5, 1, 4))
    boxes = rng.standard_normal((5, 1, 4))
    specs = [MetricSpec("boxes", "cosine"), MetricSpec("scores", "classification", axis=1)]
    labels = scores.argmax(-1)[:, 0]
    result = compare_outputs({"scores": scores, "boxes": boxes * 0.5}, {"scores": scores, "boxes": boxes},
                             specs, labels)
    assert result.labelled_output == "scores" and result.accuracy == 1.0 and result.top1_agreement == 1.0
    assert [o.output for o in result.outputs] == ["boxes", "scores"]
    assert result.output("boxes").score == pytest.approx(1.0) and result.output("boxes").sqnr_db < 10
    missing = compare_outputs({"scores": scores}, {"scores": scores, "boxes": boxes}, specs)
    assert "missing from the variant" in missing.output("boxes").reason


def test_a_metric_that_does_not_fit_is_refused_not_applied():
    references = {"map": np.zeros((2, 1, 1, 8, 8), np.float32)}
    with pytest.raises(UsageError, match="positions besides the class axis"):
        metrics.resolve(references, metrics.parse(["map=classification"]))
    with pytest.raises(UsageError, match="has 1 class"):
        metrics.resolve(references, metrics.parse(["map=sequence,axis=1"]))


@settings(max_examples=300, deadline=None)
@given(st.lists(st.text(max_size=40), max_size=4))
def test_metric_parser_fuzz_gives_specs_or_one_usage_error(values):
    try:
        parsed = metrics.parse(values)
    except UsageError as exc:
        assert "\n" not in exc.message
        return
    for spec in parsed.values():
        assert spec.kind in ("classification", "sequence", "map", "cosine", "custom")


def spec(name, shape, dtype="float32"):
    return TensorSpec(name, shape, dtype)


def test_a_state_on_axis_1_and_a_rate_given_once_feed_as_the_model_takes_them(tmp_path):
    path = tmp_path / "d.npz"
    audio = np.arange(10 * 4, dtype=np.float32).reshape(10, 4)
    state = np.arange(2 * 10 * 3, dtype=np.float32).reshape(2, 10, 3)
    np.savez(path, audio=audio, state=state, axis__state=np.array(1), once__sr=np.array(16000))
    data = dataset.from_npz(path, [spec("audio", ["n", 4]), spec("state", [2, "n", 3]), spec("sr", [], "int64")])
    feeds = data.samples().feeds(2)
    assert feeds["state"].shape == (2, 1, 3) and np.array_equal(feeds["state"][:, 0], state[:, 2])
    assert np.array_equal(feeds["audio"], audio[2:3]) and feeds["sr"].shape == () and feeds["sr"] == 16000
    calibration = data.calibration_samples().feeds(0)
    assert np.array_equal(calibration["state"][:, 0], state[:, data.count])   # the split keeps the axis


@pytest.mark.parametrize("arrays, message", [
    ({"audio": np.zeros((4, 4)), "once__audio": np.zeros((1, 4))}, "both per sample and as once__audio"),
    ({"once__audio": np.zeros((1, 4))}, "gives every input once"),
    ({"audio": np.zeros((4, 4)), "axis__audio": np.array(5)}, "axis__audio = 5, but 'audio' has 2 dimensions"),
    ({"audio": np.zeros((4, 4)), "axis__audio": np.array(0.5)}, "must be one whole number"),
    ({"audio": np.zeros((4, 5))}, "gives dimension 1 = 5; the model fixes it at 4"),
    ({"audio": np.zeros((4, 4, 1))}, "the model takes 2 dimensions"),
    ({"audio": np.zeros((4, 4)), "calib__audo": np.zeros((4, 4))}, "calib__audo for inputs the model does not have"),
])
def test_data_format_errors_name_the_key_and_the_fix(tmp_path, arrays, message):
    path = tmp_path / "bad.npz"
    np.savez(path, **arrays)
    with pytest.raises(ModelError) as caught:
        dataset.from_npz(path, [spec("audio", ["n", 4])])
    assert message in caught.value.message


@settings(max_examples=60, deadline=None)
@given(st.dictionaries(st.sampled_from(["x", "once__x", "axis__x", "calib__x", "labels", "calib__y"]),
                       st.sampled_from([np.zeros(()), np.zeros((3,)), np.zeros((3, 2)), np.ones((2, 3, 2)),
                                        np.array(1), np.array(-1), np.array("a")]), max_size=5))
def test_data_files_fuzz_load_or_fail_with_a_model_error(tmp_path_factory, arrays):
    path = tmp_path_factory.mktemp("fuzz") / "d.npz"
    np.savez(path, **arrays)
    try:
        data = dataset.from_npz(path, [spec("x", ["n", 2])])
    except EdgeshrinkError:
        return
    assert data.samples().feeds(0)["x"].shape[-1] == 2
