"""Models and data edgeshrink cannot use get exit 8 and one line, before anything is
compressed (issue 9, items 14 and 15)."""

import numpy as np
import onnx
import pytest
from onnx import TensorProto, helper, numpy_helper

from .conftest import cli


def identity(path, elem, shape, output_shape=None, nodes=None, initializers=()):
    graph = helper.make_graph(
        nodes or [helper.make_node("Identity", ["x"], ["y"])], "g",
        [helper.make_tensor_value_info("x", elem, shape)],
        [helper.make_tensor_value_info("y", elem, output_shape or shape)], list(initializers))
    model = helper.make_model(graph, opset_imports=[helper.make_opsetid("", 17)])
    model.ir_version = 8
    onnx.save(model, str(path))
    return path


def fails_at_run_time(path):
    # Loads and passes the checker; the reshape only fails when it runs.
    return identity(path, TensorProto.FLOAT, [1, 4], ["a", "b"], [helper.make_node("Reshape", ["x", "s"], ["y"])],
                    [numpy_helper.from_array(np.array([3, 5], dtype=np.int64), "s")])


@pytest.mark.parametrize("build, extra, words", [
    (lambda p: identity(p, TensorProto.STRING, [1, 4]), [], "input 'x' is of type string"),
    (lambda p: identity(p, TensorProto.BFLOAT16, [1, 4]), [], "input 'x' is of type bfloat16"),
    (lambda p: identity(p, TensorProto.COMPLEX64, [1, 4]), [], "input 'x' is of type complex64"),
    (lambda p: identity(p, TensorProto.FLOAT, [1, 3, 50000, 50000]), [], "GiB: too large to generate"),
    (fails_at_run_time, [], "fails when run on sample 0"),
    (lambda p: identity(p, TensorProto.FLOAT, ["n", 4]), ["--data", "zero.npz"], "has no samples"),
    (lambda p: identity(p, TensorProto.FLOAT, ["n", 4]), ["--data", "scalar.npz"], "'x' has 0 dimensions"),
    (lambda p: identity(p, TensorProto.FLOAT, ["n", 4]), ["--data", "labels.npz"], "'labels' has 3 rows"),
])
def test_models_and_data_it_cannot_use_are_exit_8_and_one_line(tmp_path, host_env, build, extra, words):
    np.savez(tmp_path / "zero.npz", x=np.zeros((0, 4), np.float32), calib__x=np.zeros((3, 4), np.float32))
    np.savez(tmp_path / "scalar.npz", x=np.array(1.0))
    np.savez(tmp_path / "labels.npz", x=np.zeros((6, 4), np.float32), labels=np.zeros(3))
    devices = tmp_path / "devices.toml"
    devices.write_text('[devices.local]\nconnection = "local"\nroot = "%s"\n' % (tmp_path / "board"))
    model = build(tmp_path / "model.onnx")
    args = [a if not a.endswith(".npz") else str(tmp_path / a) for a in extra]
    result = cli(host_env, devices, "compress", str(model), *args)
    assert result.returncode == 8, result.stderr
    errors = [line for line in result.stderr.splitlines() if line.startswith("edgeshrink:")]
    assert len(errors) == 1 and words in errors[0] and "Traceback" not in result.stderr, result.stderr
