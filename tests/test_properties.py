"""Property tests: whatever the text, the front end answers with a result or clean errors."""

from __future__ import annotations

from hypothesis import HealthCheck, find, given, settings
from hypothesis import strategies as st
from spec_strategies import generated_spec, mutated_spec

import xdsl
from xdsl.diagnostics import Source


def outcome(text: str) -> str:
    """Run the whole front end; return "ok" or the rendered errors (anything else escapes)."""
    try:
        xdsl.check(text if "\n" in text else text + "\n")
        return "ok"
    except xdsl.SpecError as e:
        lines = Source(text).lines
        for d in e.diagnostics:
            assert d.message and d.severity == "error"
            if d.span is not None:
                assert 1 <= d.span.line <= max(len(lines), 1) + 1, (d, len(lines))
                assert d.span.column >= 1
        rendered = e.render()
        assert "Traceback" not in rendered and ": error: " in rendered
        return rendered
    except xdsl.ParamError:
        return "param"


@settings(max_examples=300, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(generated_spec())
def test_generated_specs_build_or_fail_cleanly(text: str) -> None:
    outcome(text)


@settings(max_examples=400, deadline=None)
@given(mutated_spec())
def test_mutated_shipped_specs_fail_cleanly(text: str) -> None:
    outcome(text)


@settings(max_examples=300, deadline=None)
@given(st.text(max_size=200))
def test_arbitrary_text_fails_cleanly(text: str) -> None:
    assert outcome(text) != "ok"


def test_generator_reaches_the_graph_builder() -> None:
    """Guard the generator itself: it must yield valid networks with structure, not only junk."""
    found = find(generated_spec(), lambda text: "concat:" in text and "repeat" in text
                 and outcome(text) == "ok", settings=settings(max_examples=2000, deadline=None))
    assert xdsl.check(found).output == (10,)
