"""Source spans, compiler-style diagnostics and their rendering.

Every stage reports problems as :class:`Diagnostic` objects that point at a :class:`Span` of the
spec text.  A stage collects as many as it can and raises one :class:`SpecError` holding them all,
so a user fixes several mistakes per run.  Rendering follows rustc / Elm: the place, the source
line with a caret underline, then notes, the block calls that led there (innermost first, like
rustc's macro backtraces) and a hint.  Notes that point somewhere (:class:`Note` with a span) stay
structured, so an editor can show them as related locations.
"""

from __future__ import annotations

import re
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field, replace

from pydantic import BaseModel, ConfigDict


class Span(BaseModel):
    """A region of spec text: 1-based line/column of its first and last character (inclusive)."""

    model_config = ConfigDict(frozen=True, defer_build=True)

    line: int
    column: int
    end_line: int
    end_column: int

    @classmethod
    def point(cls, line: int, column: int) -> Span:
        return cls(line=line, column=column, end_line=line, end_column=column)

    def to(self, other: Span) -> Span:
        """The span from the start of ``self`` to the end of ``other``."""
        return Span.model_construct(
            line=self.line,
            column=self.column,
            end_line=other.end_line,
            end_column=other.end_column,
        )

    def __str__(self) -> str:
        return f"{self.line}:{self.column}"


@dataclass(frozen=True)
class Note:
    """A note that points at another place: ``in down(256, 728), called`` at line 29.

    Rendered as ``{message} at line N``, or ``at FILE:N:C`` when ``file`` is not the file the
    diagnostic is shown in.
    """

    message: str
    span: Span | None = None
    file: str | None = None  # the source the span is in; None: the diagnostic's own

    def render(self, source_name: str | None = None) -> str:
        if self.span is None:
            return self.message
        if self.file is not None and self.file != source_name:
            return f"{self.message} at {self.file}:{self.span.line}:{self.span.column}"
        return f"{self.message} at line {self.span.line}"

    def __str__(self) -> str:
        return self.render()


@dataclass(frozen=True)
class Diagnostic:
    """One problem in a spec, with where it is and how to fix it."""

    message: str
    span: Span | None = None
    label: str = ""
    hint: str = ""
    notes: tuple[str | Note, ...] = ()
    severity: str = "error"
    trace: tuple[Note, ...] = ()
    """The block calls that led to the problem, innermost first (empty outside blocks)."""

    def related(self) -> list[Note]:
        """Every note in the order rendered, as :class:`Note` (plain ones without a span)."""
        return [n if isinstance(n, Note) else Note(n) for n in (*self.notes, *self.trace)]


def normalize_line_ends(text: str) -> str:
    """``\r\n`` and ``\r`` as ``\n``: the one place where line ends are decided."""
    return text.replace("\r\n", "\n").replace("\r", "\n")


def split_lines(text: str) -> list[str]:
    """The lines of spec text, as the lexer counts them: a line ends at ``\n``, ``\r\n`` or
    ``\r`` and nowhere else. Form feeds, vertical tabs, U+001C-U+001E, NEL and U+2028/U+2029,
    where Python's ``str.splitlines`` also breaks, are ordinary characters (in comments, say)."""
    lines = normalize_line_ends(text).split("\n")
    if lines[-1] == "":  # the end of the last line, not a line of its own
        lines.pop()
    return lines


@dataclass
class Source:
    """Spec text with the name it is reported under (a path, or ``<string>``).

    Its line ends are normalised to ``\n`` (see :func:`split_lines`), so the lexer, the
    diagnostics and ``fmt`` count the same lines and columns.
    """

    text: str
    name: str = "<string>"
    path: str | None = None  # the file it was read from, for paths relative to it
    lines: list[str] = field(init=False)

    def __post_init__(self) -> None:
        self.text = normalize_line_ends(self.text)
        self.lines = split_lines(self.text)

    def line(self, number: int) -> str:
        return self.lines[number - 1] if 0 < number <= len(self.lines) else ""


class SpecError(Exception):
    """An invalid spec: one or more diagnostics, rendered on ``str()``."""

    def __init__(self, diagnostics: Sequence[Diagnostic], source: Source | None = None):
        self.diagnostics = list(diagnostics)
        self.source = source
        super().__init__()  # rendered when shown: a caller may only count or locate them

    def with_source(self, source: Source) -> SpecError:
        return SpecError(self.diagnostics, source)

    def render(self, color: bool = False) -> str:
        return render_all(self.diagnostics, self.source, color=color)

    def __str__(self) -> str:
        return self.render()


class Collector:
    """Accumulates diagnostics during a stage; ``raise_if_any`` ends the stage.

    ``trace`` is the current chain of block calls: errors reported meanwhile carry it.
    """

    REPEATS = 3

    def __init__(self, source: Source | None = None):
        self.source = source
        self.diagnostics: list[Diagnostic] = []
        self.trace: tuple[Note, ...] = ()

    def error(self, message: str, span: Span | None, *, label: str = "", hint: str = "",
              notes: Iterable[str | Note] = ()) -> None:
        self.diagnostics.append(Diagnostic(message, span, label, hint, tuple(notes),
                                           trace=self.trace))

    def extend(self, error: SpecError) -> None:
        self.diagnostics.extend(error.diagnostics)

    def __bool__(self) -> bool:
        return bool(self.diagnostics)

    def raise_if_any(self) -> None:
        """Raise the collected errors: duplicates dropped, one error reached through several
        block calls shown once (naming the other calls), and a message repeated at many places
        (one setting that breaks every layer) shown three times with a count of the rest."""
        kept: list[Diagnostic] = []
        seen: dict[str, int] = {}
        for d in _merge_calls(self.diagnostics):
            seen[d.message] = seen.get(d.message, 0) + 1
            if seen[d.message] <= self.REPEATS:
                kept.append(d)
        for i, d in enumerate(kept):
            extra = seen[d.message] - self.REPEATS
            last = [k for k in kept if k.message == d.message][-1] is d
            if extra > 0 and last:
                kept[i] = replace(d, notes=(*d.notes, f"{extra} more error"
                                            f"{'s' if extra > 1 else ''} like this one"))
        if kept:
            self.diagnostics = kept
            raise SpecError(self.diagnostics, self.source)


def _merge_calls(diags: Sequence[Diagnostic], shown: int = 3) -> list[Diagnostic]:
    """Diagnostics that differ only in their call chain become the first one, its chain
    followed by ``also in ...`` notes naming the other calls (each by the outermost call where
    its chain differs; ``shown`` of them, then a count)."""
    groups: dict[Diagnostic, list[Diagnostic]] = {}
    for d in diags:
        groups.setdefault(replace(d, trace=()), []).append(d)
    merged = []
    for same in groups.values():
        first = same[0]
        differ = (_where_chains_differ(first.trace, o.trace) for o in same[1:])
        calls = list(dict.fromkeys(c for c in differ if c is not None))
        also = [replace(c, message=f"also {c.message}") for c in calls[:shown]]
        if len(calls) > shown:
            rest = len(calls) - shown
            also.append(Note(f"and {rest} more call{'s' if rest > 1 else ''}"))
        merged.append(replace(first, trace=(*first.trace, *also)))
    return merged


def _where_chains_differ(a: tuple[Note, ...], b: tuple[Note, ...]) -> Note | None:
    """The outermost call of chain ``b`` that is not in chain ``a`` (chains are innermost
    first)."""
    for x, y in zip(reversed(a), reversed(b)):
        if x != y:
            return y
    return b[-len(a) - 1] if len(b) > len(a) else None


_STYLES = {"error": "\x1b[1;31m", "bold": "\x1b[1m", "blue": "\x1b[1;34m", "reset": "\x1b[0m"}


def render(diag: Diagnostic, source: Source | None, color: bool = False) -> str:
    """Render one diagnostic as ``path:line:col: error: message`` plus source excerpt."""

    def paint(style: str, text: str) -> str:
        return f"{_STYLES[style]}{text}{_STYLES['reset']}" if color else text

    name = source.name if source else "<spec>"
    where = f"{name}:{diag.span.line}:{diag.span.column}" if diag.span else name
    out = [f"{paint('bold', where)}: {paint('error', diag.severity + ':')} "
           f"{_short_quotes(diag.message)}"]
    if diag.span and source and source.line(diag.span.line):
        text = source.line(diag.span.line).expandtabs(1)
        gutter = str(diag.span.line)
        pad = " " * len(gutter)
        start = diag.span.column
        end = diag.span.end_column if diag.span.end_line == diag.span.line else len(text)
        end = max(start, min(end, max(len(text), start)))
        text, start, end = _window(text, start, end)
        caret = " " * (start - 1) + "^" * (end - start + 1)
        label = f" {_short_quotes(diag.label)}" if diag.label else ""
        out += [
            f"{pad} {paint('blue', '|')}",
            f"{paint('blue', gutter + ' |')} {text}",
            f"{pad} {paint('blue', '|')} {paint('error', caret + label)}",
        ]
    if diag.notes or diag.trace or diag.hint:
        pad = " " * (len(str(diag.span.line)) if diag.span else 0)
        out += [f"{pad} {paint('blue', '=')} note: {_short_quotes(note.render(name))}"
                for note in diag.related()]
        if diag.hint:
            out.append(f"{pad} {paint('blue', '=')} hint: {_short_quotes(diag.hint)}")
    return "\n".join(out)


EXCERPT = 200
"""The most characters of a source line an excerpt shows, around the column it points at."""


def _window(text: str, start: int, end: int) -> tuple[str, int, int]:
    """At most :data:`EXCERPT` characters of ``text`` around columns ``start``..``end``
    (1-based), ``…`` marking what is cut, and the columns in what is shown."""
    if len(text) <= EXCERPT:
        return text, start, end
    first = min(max(0, start - 1 - EXCERPT // 2), max(0, len(text) - EXCERPT))
    last = first + EXCERPT
    shown = ("…" if first else "") + text[first:last] + ("…" if last < len(text) else "")
    shift = first - (1 if first else 0)
    start = min(start - shift, len(shown))
    return shown, start, max(start, min(end - shift, len(shown)))


QUOTED = 80
"""The most characters of a `quoted` name or text a rendered message shows."""
_LONG_QUOTE = re.compile(rf"`([^`\n]{{{QUOTED + 1},}})`")


def _short_quotes(text: str) -> str:
    """``text`` with every `quoted` part longer than :data:`QUOTED` characters cut in the
    middle: a name of 100,000 characters is shown by its ends."""
    if len(text) <= QUOTED:
        return text
    half = QUOTED // 2
    return _LONG_QUOTE.sub(lambda m: f"`{m[1][:half]}…{m[1][-half:]}`", text)


def render_all(diags: Sequence[Diagnostic], source: Source | None, color: bool = False) -> str:
    body = "\n\n".join(render(d, source, color) for d in diags)
    count = len(diags)
    summary = f"{count} error{'s' if count != 1 else ''} found" if count > 1 else ""
    return body + (f"\n\n{summary}" if summary else "")


def did_you_mean(word: str, candidates: Iterable[str]) -> str:
    """A ``did you mean `x`?`` suggestion, or an empty string when nothing is close."""
    import difflib

    close = difflib.get_close_matches(word, sorted(set(candidates)), n=1, cutoff=0.6)
    return f"did you mean `{close[0]}`?" if close else ""
