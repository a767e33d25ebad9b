"""Parameter types (xdsl/params.py): a choice of whole numbers (`depth: choice(18, 34, 50)`)."""

from __future__ import annotations

import pytest

import xdsl
from xdsl.diagnostics import SpecError
from xdsl.params import ParamError

NET = """\
network n(depth: choice(11, 13, 16) = 16, act: choice(relu, elu) = relu):
    input x: 3 x 8 x 8
    repeat depth // 8: conv 4 3x3 pad=1; act act
"""


def test_a_number_choice_takes_a_listed_number_and_computes_with_it() -> None:
    assert xdsl.check(NET).trainable == (3 * 9 * 4 + 4) + (4 * 9 * 4 + 4)  # two convolutions
    assert xdsl.check(NET, depth=11).trainable == 3 * 9 * 4 + 4
    assert xdsl.check(NET, depth="13").trainable == 3 * 9 * 4 + 4  # as --set gives it


@pytest.mark.parametrize("value", [12, "12", "sixteen", True, 16.0])
def test_a_number_choice_refuses_anything_else(value: object) -> None:
    with pytest.raises(ParamError, match="`depth` is (one of 11, 13, 16|choice), got"):
        xdsl.check(NET, depth=value)


def test_a_default_outside_the_choices_and_a_mixed_choice_are_located_errors() -> None:
    with pytest.raises(SpecError) as caught:
        xdsl.check(NET.replace("= 16,", "= 15,"))
    d = caught.value.diagnostics[0]
    assert (d.span.line, d.span.column, d.message) == (
        1, 39, "default of `depth` is one of 11, 13, 16, got 15")
    assert d.hint == "give `depth` one of its choices as its default"
    with pytest.raises(SpecError) as caught:
        xdsl.check(NET.replace("choice(11, 13, 16)", "choice(11, deep)"))
    assert caught.value.diagnostics[0].message == \
        "`depth` is a choice of words and numbers at once"


def test_fmt_keeps_a_number_choice() -> None:
    assert xdsl.fmt(NET) == NET


def test_the_zoo_families_refuse_a_depth_they_do_not_define() -> None:
    for family, depth in (("resnet", 40), ("vgg", 12), ("densenet", 100)):
        with pytest.raises(ParamError, match=f"`depth` is one of .*, got {depth}"):
            xdsl.check(family, depth=depth)
