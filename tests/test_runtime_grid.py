"""Which variants a run makes for the runtimes its devices measure: the built-in grid
per runtime, and a recipe's baseline, which every device must be able to measure (an
accuracy drop is against it)."""

from edgeshrink.host import deploy
from edgeshrink.host.compress import recipe as recipe_loader

ONNX_GRID = ["fp32", "fp16", "int8-dynamic", "int8-static"]
TFLITE_GRID = ["tflite-fp32", "tflite-fp16", "tflite-int8-dynamic", "tflite-int8-weights", "tflite-int8-static"]


def names(specs):
    return [spec.name for spec in specs]


def recipe(tmp_path, *variants):
    path = tmp_path / "recipe.toml"
    path.write_text("".join('[[variant]]\nname = "%s"\nsteps = [{ step = "%s" }]\n' % (name, step)
                            for name, step in variants))
    return recipe_loader.load(path)


def test_the_built_in_grid_follows_the_runtimes_in_the_order_given(demo, host_env):
    source = deploy.resolve_model(None)
    assert names(deploy.default_grid(source, ["tflite"])) == TFLITE_GRID
    assert names(deploy.default_grid(source, ["onnxruntime", "tflite"])) == ONNX_GRID + TFLITE_GRID
    assert names(deploy.default_grid(source, ["tflite", "onnxruntime"])) == TFLITE_GRID + ONNX_GRID


def test_a_recipes_tflite_variants_bring_a_tflite_baseline_where_onnx_runtime_is_not_measured(demo, host_env,
                                                                                             tmp_path):
    source = deploy.resolve_model(None)
    specs = recipe(tmp_path, ("small", "tflite-int8-static"))
    assert names(specs) == ["fp32", "small"]
    # --runtime tflite (or every device TFLite-only): the ONNX fp32 would never be
    # measured, and nothing would have an accuracy drop; the float TFLite export is it.
    assert names(deploy.fit_recipe(source, specs, [["tflite"]])) == ["tflite-fp32", "small"]
    # One device of each kind: each has its own baseline.
    assert names(deploy.fit_recipe(source, specs, [["onnxruntime"], ["tflite"]])) == ["fp32", "tflite-fp32", "small"]
    # A device that runs both compares its TFLite variants with the ONNX original, as before.
    assert names(deploy.fit_recipe(source, specs, [["onnxruntime", "tflite"]])) == ["fp32", "small"]
    # `compress` measures nothing: the recipe as written.
    assert names(deploy.fit_recipe(source, specs)) == ["fp32", "small"]


def test_a_recipe_that_already_has_the_float_tflite_or_no_tflite_variant_is_left_alone(demo, host_env, tmp_path):
    source = deploy.resolve_model(None)
    with_float = recipe(tmp_path, ("float", "tflite"), ("small", "tflite-int8-static"))
    assert names(deploy.fit_recipe(source, with_float, [["tflite"]])) == ["fp32", "float", "small"]
    # Only ONNX variants on a TFLite-only device stays the mistake it is (said when measuring).
    onnx_only = recipe(tmp_path, ("half", "fp16"))
    assert names(deploy.fit_recipe(source, onnx_only, [["tflite"]])) == ["fp32", "half"]


def test_an_onnx_file_cannot_have_a_tflite_baseline_and_a_tflite_file_is_its_own(tiny_model, host_env, tmp_path):
    from .test_tflite_agent import FIXTURES

    onnx_source = deploy.resolve_model(str(tiny_model))
    specs = recipe(tmp_path, ("half", "fp16"))
    assert names(deploy.fit_recipe(onnx_source, specs, [["tflite"]])) == ["fp32", "half"]
    tflite_source = deploy.resolve_model(str(FIXTURES / "fp32.tflite"))
    fitted = deploy.fit_recipe(tflite_source, recipe(tmp_path, ("small", "tflite-int8-static")), [["tflite"]])
    assert names(fitted) == ["as-given", "small"]
