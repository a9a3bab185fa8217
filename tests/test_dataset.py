"""Calibration and evaluation samples are disjoint, and every variant's manifest says
which samples calibrated and which evaluated."""

import numpy as np
import pytest

from edgeshrink.host import dataset as datasets, modelinfo
from edgeshrink.host.compress import variants
from edgeshrink.host.lab.models import tiny_inputs
from edgeshrink.shared.errors import ModelError


def specs_of(model_path):
    return modelinfo.inputs(modelinfo.load(model_path))


def rows(array):
    return {row.tobytes() for row in array}


def test_one_set_without_calib_arrays_is_split_without_overlap(tmp_path, tiny_model):
    x = tiny_inputs(40)
    np.savez(tmp_path / "data.npz", x=x, labels=np.arange(40) % 10)
    data = datasets.from_npz(tmp_path / "data.npz", specs_of(tiny_model))
    split = data.split
    assert split.method is datasets.SplitMethod.ONE_SET_SPLIT and not split.calibration_from_calib_arrays
    # At most half calibrates; evaluation keeps the first rows, so row i is the file's row i.
    assert (split.evaluation.start, split.evaluation.stop) == (0, 20)
    assert (split.calibration.start, split.calibration.stop) == (20, 40)
    assert np.array_equal(data.inputs["x"], x[:20]) and np.array_equal(data.calibration["x"], x[20:])
    assert np.array_equal(data.labels, np.arange(20) % 10)
    assert not rows(data.inputs["x"]) & rows(data.calibration["x"])
    assert "samples 20-39 calibrate" in data.warnings[0]


def test_a_large_set_calibrates_on_at_most_the_limit(tmp_path, tiny_model):
    np.savez(tmp_path / "data.npz", x=tiny_inputs(300))
    data = datasets.from_npz(tmp_path / "data.npz", specs_of(tiny_model))
    assert data.split.calibration.count == datasets.CALIBRATION_LIMIT
    assert data.split.evaluation.count == data.count == 300 - datasets.CALIBRATION_LIMIT


def test_calib_arrays_calibrate_and_every_input_row_evaluates(tmp_path, tiny_model):
    np.savez(tmp_path / "data.npz", x=tiny_inputs(12), calib__x=tiny_inputs(30, seed=5))
    data = datasets.from_npz(tmp_path / "data.npz", specs_of(tiny_model))
    assert data.split.calibration_from_calib_arrays and data.count == 12
    assert data.split.to_dict()["calibration"] == {"arrays": ["calib__x"], "start": 0, "stop": 30,
                                                   "count": 30, "seed": None}
    assert data.split.to_dict()["evaluation"]["arrays"] == ["x"]


def test_a_file_too_small_to_split_is_a_clear_error(tmp_path, tiny_model):
    np.savez(tmp_path / "one.npz", x=tiny_inputs(1))
    with pytest.raises(ModelError, match="1 sample\\(s\\): too few to split") as caught:
        datasets.from_npz(tmp_path / "one.npz", specs_of(tiny_model))
    assert "calib__<input>" in caught.value.one_line()


def test_labels_that_do_not_match_the_samples_are_refused(tmp_path, tiny_model):
    np.savez(tmp_path / "data.npz", x=tiny_inputs(10), labels=np.arange(9))
    with pytest.raises(ModelError, match="'labels' has 9 rows but the inputs have 10 samples"):
        datasets.from_npz(tmp_path / "data.npz", specs_of(tiny_model))


def test_synthetic_calibration_and_evaluation_come_from_different_seeds(tiny_model):
    data = datasets.synthetic(specs_of(tiny_model), samples=16, seed=3)
    assert (data.split.evaluation.seed, data.split.calibration.seed) == (3, 4)
    assert not rows(data.inputs["x"]) & rows(data.calibration["x"])


def test_the_manifest_records_the_split(tmp_path, tiny_model):
    np.savez(tmp_path / "data.npz", x=tiny_inputs(40))
    data = datasets.from_npz(tmp_path / "data.npz", specs_of(tiny_model))
    specs = [variants.VariantSpec.build("fp32", "fp32"), variants.VariantSpec.build("int8-static", "int8-static")]
    made = variants.make_variants(tiny_model, data, specs, cache_dir=tmp_path / "cache", log=lambda m: None)
    for variant in made:
        recorded = variant.manifest["data_split"]
        assert recorded["method"] == "one set split" and recorded["calibration_from_calib_arrays"] is False
        assert (recorded["calibration"]["start"], recorded["calibration"]["stop"]) == (20, 40)
        assert (recorded["evaluation"]["start"], recorded["evaluation"]["stop"]) == (0, 20)
        assert recorded["source"] == str(tmp_path / "data.npz")


def test_the_demo_records_its_training_and_held_out_splits(demo):
    data = datasets.from_demo(demo)
    assert data.split.method is datasets.SplitMethod.DEMO_SPLITS
    assert data.split.calibration.arrays == ("calib_x",) and data.split.evaluation.arrays == ("eval_x",)
    assert data.split.evaluation.count == data.count
    name = demo.meta["input"]
    assert not rows(data.inputs[name]) & rows(data.calibration[name])
