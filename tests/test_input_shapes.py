"""--input-shape: parsing (fuzzed) and applying shapes to a model's inputs."""

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from edgeshrink.host import input_shapes
from edgeshrink.host.modelinfo import TensorSpec
from edgeshrink.shared.errors import ModelError, UsageError

IMAGE = TensorSpec("image", ["batch", 3, "height", "width"], "float32")
STATE = TensorSpec("state", [2, "batch", 64], "float32")


def test_named_and_unnamed_forms():
    shapes = input_shapes.parse(["image=1,3,480,640", "state=2,1,64"])
    assert shapes.named == {"image": (1, 3, 480, 640), "state": (2, 1, 64)} and shapes.unnamed is None
    assert input_shapes.parse(["1,3,224,224"]).unnamed == (1, 3, 224, 224)
    assert not input_shapes.parse(None) and not input_shapes.parse([])


@pytest.mark.parametrize("values, message", [
    (["image=1,x"], "whole numbers"),
    (["image=1,0"], ">= 1"),
    (["=1,2"], "name before '='"),
    (["image=1", "image=2"], "twice"),
    (["1,2", "3,4"], "may be given once"),
    (["1,2", "image=3"], "give every shape with its input name"),
    ([""], "needs a value"),
])
def test_bad_values_are_one_clear_usage_error(values, message):
    with pytest.raises(UsageError, match=message) as caught:
        input_shapes.parse(values)
    assert "--input-shape NAME=d1,d2" in caught.value.one_line()


@settings(max_examples=300, deadline=None)
@given(st.lists(st.text(max_size=30), max_size=4))
def test_any_text_parses_or_is_a_usage_error(values):
    try:
        shapes = input_shapes.parse(values)
    except UsageError as exc:
        assert exc.one_line()
        return
    for dims in list(shapes.named.values()) + ([shapes.unnamed] if shapes.unnamed else []):
        assert all(isinstance(d, int) and d >= 1 for d in dims)


@settings(max_examples=200, deadline=None)
@given(st.dictionaries(st.from_regex(r"[A-Za-z_][A-Za-z0-9_.:/-]{0,12}", fullmatch=True),
                       st.lists(st.integers(1, 4096), min_size=1, max_size=5), min_size=1, max_size=3))
def test_named_shapes_round_trip(shapes):
    values = ["%s=%s" % (name, ",".join(map(str, dims))) for name, dims in shapes.items()]
    parsed = input_shapes.parse(values)
    assert parsed.named == {name: tuple(dims) for name, dims in shapes.items()}


def test_resolving_fixes_dynamic_dimensions_or_names_the_one_left():
    shapes = input_shapes.parse(["image=1,3,96,128", "state=2,1,64"])
    image, state = input_shapes.resolve([IMAGE, STATE], shapes, have_data=False)
    assert image.shape == [1, 3, 96, 128] and state.shape == [2, 1, 64]
    with pytest.raises(ModelError) as caught:
        input_shapes.resolve([IMAGE], input_shapes.parse([]), have_data=False)
    assert caught.value.one_line() == ("input 'image' has dynamic dimension 2 ('height') and no data or shape to "
                                       "fix it (pass --input-shape image=N,3,N,N or --data file.npz)")
    # The sample axis may stay dynamic; with data, the data gives the sizes.
    assert input_shapes.resolve([IMAGE], input_shapes.parse([]), have_data=True)[0].shape == IMAGE.shape
    with pytest.raises(ModelError, match="input 'state' has dynamic dimension 1"):
        input_shapes.resolve([STATE], input_shapes.parse([]), have_data=False)


@pytest.mark.parametrize("values, message", [
    (["img=1,3,4,4"], "names img, which the model does not have"),
    (["image=1,4,96,96"], "dimension 1 of input 'image' is fixed at 3"),
    (["image=1,3,96"], "has 4 dimensions"),
    (["1,3,96,96"], "the model has 2 inputs"),
])
def test_shapes_that_do_not_fit_the_model_are_refused(values, message):
    with pytest.raises(UsageError, match=message):
        input_shapes.resolve([IMAGE, STATE] if values == ["1,3,96,96"] else [IMAGE],
                             input_shapes.parse(values), have_data=False)
