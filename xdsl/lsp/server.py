"""The protocol wiring: documents, settings and each feature's request, on pygls.

Every document is analysed on open and on every change (:func:`.analysis.analyze`); its
diagnostics are published at once. The last analysis that built a graph is kept: while the
text is broken, hovers and inlay hints on the lines that did not change since answer from it.
No handler lets an exception out (a request answers nothing rather than an error), so a
half-typed line never costs the editor its server.
"""

from __future__ import annotations

import difflib
import functools
import logging
import traceback
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, TypeVar
from urllib.parse import unquote, urlparse

from lsprotocol import types as lsp
from pygls.exceptions import JsonRpcInvalidParams
from pygls.lsp.server import LanguageServer

from xdsl import __version__
from xdsl.diagnostics import Note, _short_quotes

from .analysis import Analysis, Lines, Problem, analyze
from .completion import complete
from .hover import hover
from .inlay import inlay_hints
from .navigation import (
    RenameError,
    definition,
    document_symbols,
    prepare_rename,
    references,
    rename,
)

log = logging.getLogger(__name__)
F = TypeVar("F", bound=Callable[..., Any])


@dataclass
class Document:
    uri: str
    path: str | None
    current: Analysis
    good: Analysis | None = None
    """The last analysis that built a graph."""
    _mapping: dict[int, int] | None = field(default=None, repr=False)

    def update(self, a: Analysis) -> None:
        self.current, self._mapping = a, None
        if a.ok:
            self.good = a

    def at(self, line: int) -> tuple[Analysis, int] | None:
        """The analysis that answers for ``line`` of the current text, and the line there:
        the current one when it built a graph, else the last good one if that line is
        unchanged since."""
        if self.current.ok or self.good is None:
            return self.current, line
        if self._mapping is None:
            old, new = self.good.lines, self.current.lines
            matcher = difflib.SequenceMatcher(None, old, new, autojunk=False)
            self._mapping = {j + k: i + k for tag, i, _, j, n in
                             ((tag, i1, i2, j1, j2 - j1) for tag, i1, i2, j1, j2
                              in matcher.get_opcodes()) if tag == "equal" for k in range(n)}
        if line in self._mapping:
            return self.good, self._mapping[line]
        return None


class XdslServer(LanguageServer):
    def __init__(self) -> None:
        super().__init__("xdsl", __version__)
        self.documents: dict[str, Document] = {}
        self.parameters: dict[str, str] = {}
        """The editor's settings: parameter values, as ``--set NAME=VALUE`` gives them."""

    def configure(self, options: Any) -> None:
        """``{"parameters": {NAME: VALUE}}``, also under an ``xdsl`` key."""
        if isinstance(options, dict) and isinstance(options.get("xdsl"), dict):
            options = options["xdsl"]
        if isinstance(options, dict) and isinstance(options.get("parameters"), dict):
            self.parameters = {str(k): _word(v) for k, v in options["parameters"].items()}

    def analyse(self, uri: str) -> Document:
        text = self.workspace.get_text_document(uri).source
        path = _path(uri)
        doc = self.documents.get(uri)
        a = analyze(text, path, self.parameters)
        if doc is None:
            doc = self.documents[uri] = Document(uri, path, a)
        doc.update(a)
        self.text_document_publish_diagnostics(lsp.PublishDiagnosticsParams(
            uri=uri, diagnostics=[diagnostic(p, a, uri) for p in a.problems]))
        return doc

    def document(self, uri: str) -> Document:
        doc = self.documents.get(uri)
        return doc if doc is not None else self.analyse(uri)


def _word(value: Any) -> str:
    if isinstance(value, bool):
        return "true" if value else "false"
    return "none" if value is None else str(value)


def _path(uri: str) -> str | None:
    parsed = urlparse(uri)
    return unquote(parsed.path) if parsed.scheme == "file" else None


def _uri(path: str) -> str:
    return Path(path).resolve().as_uri()


def _range(lines: Lines, line: int, start: int, end_line: int, end: int) -> lsp.Range:
    return lsp.Range(start=lsp.Position(line=max(0, line), character=lines.to_utf16(line, start)),
                     end=lsp.Position(line=max(0, end_line),
                                      character=lines.to_utf16(end_line, end)))


def diagnostic(problem: Problem, a: Analysis, uri: str) -> lsp.Diagnostic:
    """A diagnostic with the CLI's text: its message, label, notes and hint, one a line; notes
    that point somewhere are also related information."""
    d, src = problem.diagnostic, problem.source
    here = src is None or src.path == a.source.path and src.text == a.source.text
    name = src.name if src is not None else a.source.name
    text = [_short_quotes(d.message)]
    if d.label:
        text.append(_short_quotes(d.label))
    text += [f"note: {_short_quotes(n.render(name))}" for n in d.related()]
    if d.hint:
        text.append(f"hint: {_short_quotes(d.hint)}")
    related = []
    src_uri = uri if here or src is None or not src.path else _uri(src.path)
    for note in d.related():
        if note.span is not None:
            related.append(_related(note, name, src_uri, src, a))
    lines = Lines(a.lines)
    if here and d.span is not None:
        sp = d.span
        rng = _range(lines, sp.line - 1, sp.column - 1, sp.end_line - 1, sp.end_column)
    else:  # in another file (a variant's base): shown on the first line, pointing there
        line = (a.tree.span.line - 1) if a.tree is not None else 0
        rng = _range(lines, line, 0, line, len(lines.line(line)))
        if d.span is not None and src is not None and src.path:
            text[0] = f"{src.name}:{d.span.line}:{d.span.column}: {text[0]}"
            far = Lines(src.lines)
            related.insert(0, lsp.DiagnosticRelatedInformation(
                location=lsp.Location(uri=_uri(src.path), range=_range(
                    far, d.span.line - 1, d.span.column - 1, d.span.end_line - 1,
                    d.span.end_column)), message=_short_quotes(d.message)))
    severity = lsp.DiagnosticSeverity.Warning if d.severity == "warning" \
        else lsp.DiagnosticSeverity.Error
    return lsp.Diagnostic(range=rng, message="\n".join(text), severity=severity,
                          source="xdsl", related_information=related or None)


def _related(note: Note, name: str, src_uri: str, src: Any, a: Analysis
             ) -> lsp.DiagnosticRelatedInformation:
    assert note.span is not None
    sp = note.span
    uri = src_uri if note.file is None or note.file == name else _uri(note.file)
    lines = Lines(src.lines if src is not None and uri == src_uri else a.lines)
    return lsp.DiagnosticRelatedInformation(
        location=lsp.Location(uri=uri, range=_range(lines, sp.line - 1, sp.column - 1,
                                                    sp.end_line - 1, sp.end_column)),
        message=_short_quotes(note.message))


server = XdslServer()


def safe(f: F) -> F:
    """A handler that logs its exception and answers nothing instead of an error."""

    @functools.wraps(f)
    def wrapper(*args: Any, **kwargs: Any) -> Any:
        try:
            return f(*args, **kwargs)
        except JsonRpcInvalidParams:
            raise
        except Exception:
            log.error("xdsl lsp: %s failed:\n%s", f.__name__, traceback.format_exc())
            return None

    return wrapper  # type: ignore[return-value]


def _position(doc: Document, pos: lsp.Position) -> tuple[int, int]:
    return pos.line, Lines(doc.current.lines).from_utf16(pos.line, pos.character)


@server.feature(lsp.INITIALIZE)
@safe
def initialize(ls: XdslServer, params: lsp.InitializeParams) -> None:
    ls.configure(params.initialization_options)


@server.feature(lsp.WORKSPACE_DID_CHANGE_CONFIGURATION)
@safe
def did_change_configuration(ls: XdslServer, params: lsp.DidChangeConfigurationParams) -> None:
    ls.configure(params.settings)
    for uri in list(ls.documents):
        ls.analyse(uri)


@server.feature(lsp.TEXT_DOCUMENT_DID_OPEN)
@safe
def did_open(ls: XdslServer, params: lsp.DidOpenTextDocumentParams) -> None:
    ls.analyse(params.text_document.uri)


@server.feature(lsp.TEXT_DOCUMENT_DID_CHANGE)
@safe
def did_change(ls: XdslServer, params: lsp.DidChangeTextDocumentParams) -> None:
    ls.analyse(params.text_document.uri)


@server.feature(lsp.TEXT_DOCUMENT_DID_SAVE)
@safe
def did_save(ls: XdslServer, params: lsp.DidSaveTextDocumentParams) -> None:
    ls.analyse(params.text_document.uri)  # a variant's base may have changed on disk


@server.feature(lsp.TEXT_DOCUMENT_DID_CLOSE)
@safe
def did_close(ls: XdslServer, params: lsp.DidCloseTextDocumentParams) -> None:
    ls.documents.pop(params.text_document.uri, None)
    ls.text_document_publish_diagnostics(
        lsp.PublishDiagnosticsParams(uri=params.text_document.uri, diagnostics=[]))


@server.feature(lsp.TEXT_DOCUMENT_HOVER)
@safe
def on_hover(ls: XdslServer, params: lsp.HoverParams) -> lsp.Hover | None:
    doc = ls.document(params.text_document.uri)
    line, char = _position(doc, params.position)
    found = doc.at(line)
    if found is None:
        return None
    a, there = found
    text = hover(a, there, char)
    if text is None:
        return None
    return lsp.Hover(contents=lsp.MarkupContent(kind=lsp.MarkupKind.Markdown, value=text))


@server.feature(lsp.TEXT_DOCUMENT_INLAY_HINT)
@safe
def on_inlay_hint(ls: XdslServer, params: lsp.InlayHintParams) -> list[lsp.InlayHint]:
    doc = ls.document(params.text_document.uri)
    first, last = params.range.start.line, params.range.end.line
    lines = Lines(doc.current.lines)
    if doc.current.ok or doc.good is None:
        hints = inlay_hints(doc.current, first, last)
    else:  # the last good analysis, on the lines unchanged since
        back = {there: line for line in range(first, min(last, len(lines.lines) - 1) + 1)
                if (found := doc.at(line)) is not None for there in [found[1]]}
        hints = [(back[h[0]], len(lines.line(back[h[0]]).rstrip()), h[2])
                 for h in inlay_hints(doc.good, 0, len(doc.good.lines)) if h[0] in back]
    return [lsp.InlayHint(position=lsp.Position(line=line, character=lines.to_utf16(line, char)),
                          label=label, kind=lsp.InlayHintKind.Type, padding_left=True)
            for line, char, label in hints]


def _location(doc: Document, place: tuple[str | None, int, int, int]) -> lsp.Location:
    path, line, start, end = place
    if path is None:
        return lsp.Location(uri=doc.uri, range=_range(Lines(doc.current.lines), line, start,
                                                      line, end))
    try:
        far = Lines(Path(path).read_text(encoding="utf-8").splitlines())
    except OSError:
        far = Lines([])
    return lsp.Location(uri=_uri(path), range=_range(far, line, start, line, end))


def _answering(doc: Document) -> Analysis:
    """Navigation reads the current text's names when it parses, else the last good ones (only
    while no line moved: their places would be stale)."""
    a = doc.current
    if a.symbols is None and a.tree is None and doc.good is not None \
            and len(doc.good.lines) == len(a.lines):
        return doc.good
    return a


@server.feature(lsp.TEXT_DOCUMENT_DEFINITION)
@safe
def on_definition(ls: XdslServer, params: lsp.DefinitionParams) -> list[lsp.Location]:
    doc = ls.document(params.text_document.uri)
    line, char = _position(doc, params.position)
    return [_location(doc, p) for p in definition(_answering(doc), line, char)]


@server.feature(lsp.TEXT_DOCUMENT_REFERENCES)
@safe
def on_references(ls: XdslServer, params: lsp.ReferenceParams) -> list[lsp.Location]:
    doc = ls.document(params.text_document.uri)
    line, char = _position(doc, params.position)
    return [_location(doc, p) for p in references(_answering(doc), line, char,
                                                  params.context.include_declaration)]


@server.feature(lsp.TEXT_DOCUMENT_PREPARE_RENAME)
@safe
def on_prepare_rename(ls: XdslServer, params: lsp.PrepareRenameParams) -> lsp.Range | None:
    doc = ls.document(params.text_document.uri)
    line, char = _position(doc, params.position)
    if doc.current.symbols is None:
        return None
    place = prepare_rename(doc.current, line, char)
    return _location(doc, place).range if place else None


@server.feature(lsp.TEXT_DOCUMENT_RENAME)
@safe
def on_rename(ls: XdslServer, params: lsp.RenameParams) -> lsp.WorkspaceEdit | None:
    doc = ls.document(params.text_document.uri)
    line, char = _position(doc, params.position)
    try:
        places = rename(doc.current, line, char, params.new_name)
    except RenameError as e:
        raise JsonRpcInvalidParams(str(e)) from None
    if not places:
        return None
    edits = [lsp.TextEdit(range=_location(doc, p).range, new_text=params.new_name)
             for p in places]
    return lsp.WorkspaceEdit(changes={doc.uri: edits})


_SYMBOL_KINDS = {"network": lsp.SymbolKind.Module, "variant": lsp.SymbolKind.Module,
                 "parameter": lsp.SymbolKind.Variable, "input": lsp.SymbolKind.Variable,
                 "block": lsp.SymbolKind.Function, "flow": lsp.SymbolKind.Namespace}


@server.feature(lsp.TEXT_DOCUMENT_DOCUMENT_SYMBOL)
@safe
def on_document_symbol(ls: XdslServer, params: lsp.DocumentSymbolParams
                       ) -> list[lsp.DocumentSymbol]:
    doc = ls.document(params.text_document.uri)
    a = doc.current if doc.current.tree is not None else (doc.good or doc.current)
    lines = Lines(a.lines)

    def convert(s: Any) -> lsp.DocumentSymbol:
        end_line = min(s.end_line, max(0, len(a.lines) - 1))
        return lsp.DocumentSymbol(
            name=s.name, kind=_SYMBOL_KINDS[s.kind], detail=s.detail or None,
            range=_range(lines, s.line, 0, end_line, len(lines.line(end_line))),
            selection_range=_range(lines, s.line, s.start, s.line, s.end),
            children=[convert(c) for c in s.children] or None)

    return [convert(s) for s in document_symbols(a)]


_ITEM_KINDS = {"op": lsp.CompletionItemKind.Function, "block": lsp.CompletionItemKind.Class,
               "keyword": lsp.CompletionItemKind.Keyword,
               "option": lsp.CompletionItemKind.Property,
               "value": lsp.CompletionItemKind.EnumMember,
               "parameter": lsp.CompletionItemKind.Variable,
               "tensor": lsp.CompletionItemKind.Reference}


@server.feature(lsp.TEXT_DOCUMENT_COMPLETION,
                lsp.CompletionOptions(trigger_characters=["=", "(", ";"]))
@safe
def on_completion(ls: XdslServer, params: lsp.CompletionParams) -> lsp.CompletionList:
    doc = ls.document(params.text_document.uri)
    line, char = _position(doc, params.position)
    items = complete(doc.current, doc.good, line, char)
    return lsp.CompletionList(is_incomplete=False, items=[
        lsp.CompletionItem(label=i.label, kind=_ITEM_KINDS[i.kind], detail=i.detail or None,
                           insert_text=i.insert) for i in items])


@server.feature(lsp.TEXT_DOCUMENT_FORMATTING)
@safe
def on_formatting(ls: XdslServer, params: lsp.DocumentFormattingParams) -> list[lsp.TextEdit]:
    from xdsl.diagnostics import Source, SpecError
    from xdsl.printer import format_source

    doc = ls.document(params.text_document.uri)
    text = ls.workspace.get_text_document(doc.uri).source
    try:
        out = format_source(Source(text, doc.path or "<untitled>", doc.path))
    except SpecError:
        return []  # the diagnostics say why
    if out == text:
        return []
    lines = text.split("\n")
    end = lsp.Position(line=len(lines) - 1, character=Lines(lines).to_utf16(
        len(lines) - 1, len(lines[-1])))
    return [lsp.TextEdit(range=lsp.Range(start=lsp.Position(line=0, character=0), end=end),
                         new_text=out)]
