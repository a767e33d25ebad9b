"""Issue 11's fuzzing harness at CI size: mutated seeds and resource bombs through every
torch-free stage (tests/fuzz/oracle.py says what is asserted). The longer run is
``python tools/fuzz.py --seconds 600``, which also minimises what it finds.

The fuzz tests collect every failure class of their fixed, deterministic set of cases and fail
once, listing each class with the recipe of a case that shows it.
"""

from __future__ import annotations

import time
from collections.abc import Iterator, Sequence

import pytest
from fuzz.bombs import BOMBS, bomb
from fuzz.mutate import MUTATORS, Case, decode, mutate, seeds, shipped_seeds
from fuzz.oracle import Failure, Workspace, run
from hypothesis import HealthCheck, Phase, given, settings
from hypothesis import strategies as st

from xdsl.api import shipped_specs
from xdsl.diagnostics import Diagnostic, SpecError

CI_BOMBS = [("nested_repeat_false_if", 3), ("doubling_blocks", 20), ("block_chain", 1500),
            ("long_expression", 2000), ("deep_parentheses", 200), ("deep_nesting", 400),
            ("many_layers", 100000), ("many_lines", 20000), ("long_line", 20000),
            ("wide_concat", 200), ("huge_integer", 4400), ("long_name", 100000)]
"""One size per bomb: the smallest that shows its failure class, to stay in the CI budget."""
MUTATED_EXAMPLES = 250


@pytest.fixture(scope="module")
def workspace() -> Iterator[Workspace]:
    ws = Workspace()
    yield ws
    ws.close()


def report(found: dict[str, tuple[Failure, Case]]) -> str:
    lines = [f"{len(found)} failure classes:"]
    for signature, (f, case) in sorted(found.items()):
        lines.append(f"- {signature}\n    {f.detail.splitlines()[0][:160] if f.detail else ''}"
                     f"\n    case: {case.recipe}")
    return "\n".join(lines)


def collect(cases: Sequence[Case] | Iterator[Case], workspace: Workspace
            ) -> dict[str, tuple[Failure, Case]]:
    found: dict[str, tuple[Failure, Case]] = {}
    for case in cases:
        for f in run(case, workspace).failures:
            found.setdefault(f.signature, (f, case))
    return found


# ---- the harness itself ----------------------------------------------------------------------


def test_seeds_are_every_shipped_spec_and_the_test_specs() -> None:
    shipped = shipped_seeds()
    assert len(shipped) == len(shipped_specs()) >= 14
    assert {"specs/xception.x", "specs/variants/xception_s4.x"} <= set(shipped)
    assert "tests/golden/fmt/messy.x" in seeds()


def test_mutations_are_reproducible_and_each_mutator_acts() -> None:
    steps = [("swap_tokens", 7), ("comment", 3), ("number_huge", 11)]
    assert mutate("specs/xception.x", steps) == mutate("specs/xception.x", steps)
    assert mutate("specs/xception.x", steps).recipe == \
        "specs/xception.x | swap_tokens(7) | comment(3) | number_huge(11)"
    pair = ("specs/xception.x", "specs/variants/xception_s4.x")  # variant paths, indentation
    for name in MUTATORS:
        changed = [seed for seed in pair
                   if {mutate(seed, [(name, n)]).data for n in range(12)} - {seeds()[seed]}]
        assert changed, f"{name} never changes a spec"


def test_surrogates_become_raw_bytes() -> None:
    from fuzz.mutate import encode

    assert encode("relu\udcff \xe9\udcc3") == b"relu\xff \xc3\xa9\xc3"
    assert decode(b"relu\xff") == "relu\udcff"


@pytest.mark.parametrize("seed", shipped_seeds())
def test_shipped_specs_pass_the_oracle(seed: str, workspace: Workspace) -> None:
    outcome = run(Case(seed, seeds()[seed], seed), workspace)
    assert outcome.failures == []
    assert set(outcome.times) == {"parse", "check", "audit", "draw", "compile", "fmt"}


def test_oracle_reports_planted_defects(workspace: Workspace,
                                        monkeypatch: pytest.MonkeyPatch) -> None:
    """Each property of the oracle fails on a defect planted in the stage it watches."""
    import fuzz.oracle as oracle

    case = Case("specs/xception.x", seeds()["specs/xception.x"])
    monkeypatch.setattr(oracle, "lower", lambda g: {}["missing"])
    monkeypatch.setattr(oracle, "summarize", lambda g: (_ for _ in ()).throw(
        SpecError([Diagnostic("somewhere", None)])))
    monkeypatch.setattr(oracle, "format_source", lambda s: s.text.replace("# Xception", "#"))

    def spin(spec: object) -> None:
        end = time.process_time() + 5
        while time.process_time() < end:
            pass

    monkeypatch.setattr(oracle, "_audit", spin)
    # the spin takes 5 s of CPU; every other stage of Xception well under the 1.5 s limit
    signatures = {f.signature for f in run(case, workspace, limit_s=1.5).failures}
    assert "check|unlocated|somewhere" in signatures
    monkeypatch.setattr(oracle, "summarize", lambda g: None)
    failures = run(case, workspace, limit_s=1.5).failures
    assert {f.signature for f in failures} == {
        "compile|exception|KeyError|?", "audit|slow|?", "fmt|fmt-comments|other"}


def test_comments_are_read_as_the_grammar_reads_them() -> None:
    from fuzz.oracle import comments

    text = 'relu  # a \n  "x # not one" # b\u2028c\t\n# d\x0ce\n'
    assert comments(text) == {"# a": 1, "# b\u2028c": 1, "# d\x0ce": 1}


def test_located_wants_a_span_and_the_excerpt_of_its_line() -> None:
    from fuzz.oracle import located

    from xdsl.diagnostics import Source, Span

    text = Source("# a\x0cb\nrelu\n", "t.x")
    text.lines = text.text.splitlines()  # as Source counted lines before issue 11's item 11
    assert [f.kind for f in located("parse", SpecError([Diagnostic("m", Span.point(2, 1))],
                                                        text))] == ["excerpt"]
    assert [f.kind for f in located("parse", SpecError([Diagnostic("m", None)], text))] == \
        ["unlocated"]
    assert located("parse", SpecError([Diagnostic("m", Span.point(2, 1))],
                                      Source("# a\nrelu\n", "t.x"))) == []


# ---- the fuzzing (fails while issue 11's defects remain) ------------------------------------


def test_resource_bombs(workspace: Workspace) -> None:
    found = collect([bomb(name, size) for name, size in CI_BOMBS], workspace)
    assert not found, report(found)


def test_every_bomb_is_in_the_ci_set() -> None:
    assert {name for name, _ in CI_BOMBS} == set(BOMBS)


def test_mutated_specs(workspace: Workspace) -> None:
    found: dict[str, tuple[Failure, Case]] = {}
    steps = st.lists(st.tuples(st.sampled_from(sorted(MUTATORS)), st.integers(0, 2**32 - 1)),
                     min_size=1, max_size=4)
    seed = st.one_of(st.sampled_from(shipped_seeds()), st.sampled_from(sorted(seeds())))

    @settings(max_examples=MUTATED_EXAMPLES, deadline=None, derandomize=True, database=None,
              phases=[Phase.generate], suppress_health_check=list(HealthCheck))
    @given(seed, steps)
    def fuzz(name: str, recipe: list[tuple[str, int]]) -> None:
        found.update({k: v for k, v in collect([mutate(name, recipe)], workspace).items()
                      if k not in found})

    fuzz()
    assert not found, report(found)
