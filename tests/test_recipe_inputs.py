"""Recipes as a careless or hostile author writes them (issue 9, item 13): every input
gives specs or one UsageError (exit 2) naming the variant, step and option."""

import pytest
from hypothesis import given, settings, strategies as st

from edgeshrink.host.compress import recipe
from edgeshrink.shared.errors import UsageError

from .toml_text import toml_value


def load(tmp_path, text):
    path = tmp_path / "recipe.toml"
    path.write_text(text)
    return recipe.load(path)


@pytest.mark.parametrize("text, words", [
    ('[[variant]]\nname = "a"\nsteps = [{ step = "int8-static", per_channel = "false" }]\n',
     "variant 'a': option per_channel must be true or false, got 'false'"),
    ('[[variant]]\nname = "a"\nsteps = [{ step = "distill", epochs = 1.5 }]\n', "option epochs must be a whole number"),
    ('[[variant]]\nname = "a"\nsteps = [{ step = "prune", ratio = inf }]\n', "option ratio must be a finite number"),
    ('[[variant]]\nname = "a"\nsteps = [{ step = "prune", ratio = nan }]\n', "option ratio must be a finite number"),
    ('[[variant]]\nname = "a/../b"\nsteps = [{ step = "fp16" }]\n', "variant name 'a/../b'"),
    ('[[variant]]\nname = 5\nsteps = [{ step = "fp16" }]\n', "variant name 5"),
    ('variant = 3\n', "variants are [[variant]] tables"),
    ('defaults = "yes"\n', "defaults must be true or false"),
    ('[[variant]]\nname = "a"\nsteps = [{ step = 7 }]\n', "unknown technique 7"),
])
def test_wrong_types_are_one_line_naming_variant_and_option(tmp_path, text, words):
    with pytest.raises(UsageError) as caught:
        load(tmp_path, text)
    assert words in caught.value.message and "\n" not in caught.value.message


def test_the_documented_fp16_with_float16_inputs_loads(tmp_path):
    specs = load(tmp_path, '[[variant]]\nname = "fp16-io"\nsteps = [{ step = "fp16", keep_io_types = false }]\n')
    assert [s.name for s in specs] == ["fp32", "fp16-io"]


_values = st.one_of(st.booleans(), st.integers(-3, 300), st.floats(allow_nan=True, allow_infinity=True),
                    st.text(max_size=8), st.lists(st.integers(), max_size=2))
_steps = st.fixed_dictionaries({"step": st.sampled_from(["fp16", "prune", "int8-static", "cluster", "bogus"])},
                               optional={"ratio": _values, "per_channel": _values, "clusters": _values,
                                         "keep_io_types": _values, "colour": _values})


@settings(max_examples=150, deadline=None)
@given(name=_values, steps=st.lists(_steps, max_size=3))
def test_recipe_fuzz_gives_specs_or_one_usage_error(tmp_path_factory, name, steps):
    body = "[[variant]]\nname = %s\nsteps = [%s]\n" % (
        toml_value(name), ", ".join("{ %s }" % ", ".join("%s = %s" % (k, toml_value(v)) for k, v in s.items()) for s in steps))
    path = tmp_path_factory.mktemp("recipe") / "r.toml"
    path.write_text(body)
    try:
        specs = recipe.load(path)
    except UsageError as exc:
        assert "\n" not in exc.message
        return
    assert specs[0].name == "fp32" and all(s.steps for s in specs)
