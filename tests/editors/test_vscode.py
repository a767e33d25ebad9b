"""The VS Code extension (editors/vscode/): its manifest, its language configuration, and its
TextMate grammar, which must give every token of every shipped spec the class that the Pygments
lexer (xdsl/highlight.py) gives it.

The grammar is tokenized by vscode-textmate, the engine VS Code itself runs (with the Oniguruma
regular expressions), through editors/vscode/scripts/scopes.js: those tests need Node.js and
`npm ci` in editors/vscode, and say so when either is missing. (PyPI's TextMate ports,
textmate-grammar-python and the like, are not the engine VS Code runs.)
"""

from __future__ import annotations

import json
import re
import shutil
import subprocess
import sys
import zipfile
from functools import cache
from pathlib import Path

import pytest
from pygments.token import (
    Comment,
    Keyword,
    Name,
    Number,
    Operator,
    String,
    _TokenType,
)

from xdsl.evaluate import FUNCTIONS
from xdsl.highlight import XdslLexer
from xdsl.lexer import KEYWORDS
from xdsl.ops import OPS, option_words
from xdsl.validate import CHANNELS, PARAM_TYPES

ROOT = Path(__file__).resolve().parents[2]
EXT = ROOT / "editors" / "vscode"
SPECS = sorted((ROOT / "specs").rglob("*.x"))
MANIFEST = json.loads((EXT / "package.json").read_text(encoding="utf-8"))
GRAMMAR_PATH = EXT / MANIFEST["contributes"]["grammars"][0]["path"]
GRAMMAR = json.loads(GRAMMAR_PATH.read_text(encoding="utf-8"))

# ---- token classes ------------------------------------------------------------------------

PYGMENTS_CLASSES: list[tuple[_TokenType, str]] = [  # the first that contains the token type
    (Comment, "comment"),
    (String, "string"),
    (Keyword.Type, "type"),
    (Keyword.Constant, "constant"),
    (Name.Constant, "constant"),
    (Keyword, "keyword"),
    (Operator.Word, "keyword"),
    (Number, "number"),
    (Name.Builtin.Pseudo, "builtin variable"),
    (Name.Builtin, "op"),  # ops and the built-in functions
    (Name.Function, "function"),  # a block's name, where defined and where called
    (Name.Attribute, "option"),
    (Name.Class, "declared name"),
    (Name.Namespace, "declared name"),
    (Name.Variable, "declared name"),
    (Name.Label, "declared name"),
    (Operator, "operator"),
]
"""Everything else (names, punctuation, whitespace) is plain: ""."""

SCOPE_CLASSES: dict[str, str] = {
    "comment.line.number-sign": "comment",
    "string.quoted.double": "string",
    "storage.type": "type",
    "constant.language.boolean": "constant",
    "constant.language.symbol": "constant",
    "keyword.control": "keyword",
    "keyword.other": "keyword",
    "keyword.other.declaration.network": "keyword",
    "keyword.other.declaration.block": "keyword",
    "keyword.other.declaration.flow": "keyword",
    "keyword.other.declaration.input": "keyword",
    "keyword.operator.word": "keyword",
    "constant.numeric.size": "number",
    "constant.numeric.integer": "number",
    "constant.numeric.integer.grouped": "number",
    "constant.numeric.float": "number",
    "variable.language.channels": "builtin variable",
    "support.function.op": "op",
    "support.function.builtin": "op",
    "entity.name.function.block": "function",
    "entity.name.function.call": "function",
    "variable.parameter.option": "option",
    "entity.name.type.network": "declared name",
    "entity.name.namespace.flow": "declared name",
    "variable.other.tensor.input": "declared name",
    "variable.other.tensor": "declared name",
    "keyword.operator": "operator",
    "keyword.operator.assignment": "operator",
    "variable.other.readwrite": "",
    "punctuation.parenthesis.begin": "",
    "punctuation.parenthesis.end": "",
    "punctuation.separator.comma": "",
    "punctuation.separator.colon": "",
    "punctuation.terminator.statement": "",
}
"""Every scope the grammar assigns (less `.xdsl`), and its class."""


def pygments_class(token: _TokenType) -> str:
    return next((name for kind, name in PYGMENTS_CLASSES if token in kind), "")


def scope_class(scopes: list[str]) -> str:
    """The class of the innermost scope (the token's own, not `source.xdsl`)."""
    scope = scopes[-1].removesuffix(".xdsl")
    return "" if scope == "source" else SCOPE_CLASSES[scope]


def pygments_chars(text: str) -> list[str]:
    """The class of every character of text, as the Pygments lexer sees it."""
    classes = [""] * len(text)
    lexer = XdslLexer(stripnl=False, ensurenl=False)
    for start, token, value in lexer.get_tokens_unprocessed(text):
        classes[start:start + len(value)] = [pygments_class(token)] * len(value)
    return classes


def textmate_chars(text: str, lines: list[list[list]]) -> list[str]:
    """The class of every character of text, from the TextMate tokens of each of its lines."""
    classes: list[str] = []
    for line, tokens in zip(text.split("\n"), lines, strict=True):
        row = [""] * len(line)
        for start, end, scopes in tokens:
            row[start:end] = [scope_class(scopes)] * (end - start)
        classes += [*row, ""]  # the newline
    return classes[:len(text)]


# ---- the TextMate engine (Node.js) --------------------------------------------------------

def node_missing() -> str:
    """Why the grammar cannot be run here, or ""."""
    if shutil.which("node") is None:
        return ("Node.js is not installed: the VS Code extension's tests run vscode-textmate, "
                "vscode-tmgrammar-test and vsce from npm; install Node.js 20+ and run `npm ci` "
                "in editors/vscode")
    if not (EXT / "node_modules" / "vscode-textmate").is_dir() and shutil.which("npm"):
        # the README's test command alone (CI runs `npm ci` first): install the locked packages
        done = subprocess.run(["npm", "ci", "--no-audit", "--no-fund"], cwd=EXT,
                              capture_output=True, text=True, timeout=600, check=False)
        if done.returncode:
            return f"`npm ci` in editors/vscode failed: {done.stderr.strip()[-300:]}"
    if not (EXT / "node_modules" / "vscode-textmate").is_dir():
        return "editors/vscode/node_modules is missing: run `npm ci` in editors/vscode"
    return ""


NODE_MISSING = node_missing()
needs_node = pytest.mark.skipif(bool(NODE_MISSING), reason=NODE_MISSING or "-")


def textmate_scopes(paths: list[Path]) -> dict[str, list[list[list]]]:
    result = subprocess.run(["node", str(EXT / "scripts" / "scopes.js"), *map(str, paths)],
                            capture_output=True, text=True, timeout=120, check=False)
    assert result.returncode == 0, result.stderr
    return json.loads(result.stdout)


@cache
def shipped_scopes() -> dict[str, list[list[list]]]:
    return textmate_scopes(SPECS)


def disagreements(text: str, lines: list[list[list]]) -> list[str]:
    """Where the two lexers differ: `line:column 'text' pygments=... textmate=...`."""
    ours, theirs = pygments_chars(text), textmate_chars(text, lines)
    out, previous = [], None
    for i, (mine, tm) in enumerate(zip(ours, theirs, strict=True)):
        if mine != tm and not text[i].isspace() and (mine, tm, i - 1) != previous:
            line = text.count("\n", 0, i) + 1
            column = i - (text.rfind("\n", 0, i) + 1) + 1
            word = re.match(r"\w+|\S", text[i:])
            out.append(f"{line}:{column} {word.group() if word else text[i]!r} "
                       f"pygments={mine!r} textmate={tm!r}")
        previous = (mine, tm, i) if mine != tm else None
    return out


def test_there_are_shipped_specs() -> None:
    assert len(SPECS) > 20 and ROOT / "specs" / "xception.x" in SPECS


@needs_node
@pytest.mark.parametrize("path", SPECS, ids=lambda p: str(p.relative_to(ROOT / "specs")))
def test_grammar_agrees_with_pygments_on_shipped_spec(path: Path) -> None:
    text = path.read_text(encoding="utf-8")
    assert disagreements(text, shipped_scopes()[str(path)]) == []


@needs_node
def test_comparison_sees_every_class() -> None:
    """The comparison is not vacuous: Xception's text has tokens of every class but two."""
    path = ROOT / "specs" / "xception.x"
    classes = set(textmate_chars(path.read_text(encoding="utf-8"), shipped_scopes()[str(path)]))
    assert classes == {"", *SCOPE_CLASSES.values()} - {"builtin variable"}


SNIPPET = """\
use cbam, se_block

# a comment: network conv 3x3 "text"
network net(width: int = 728, eps: float = 1e-3, pad: choice(same, valid) = same,
            skip: tensor = none, mode: str = nearest, anything: any = true):
    input image: 3 x 299 x 299
    defaults:
        conv, sepconv: bias=false, then bn eps=eps if width % 8 == 0 and not false or x
    block down(c: int):
        residual project(conv c 1x1 stride=2) if c > 1 else none:
            sepconv c 3x3; relu; cbam r
    flow entry:
        repeat 3 as i: down(width)
        concat as joined:
            branch left: conv 4 1x1; add(joined) from image
            branch: split 2 as a, b; mul(a)
        if width >= 64: conv round(channels * 0.25) 1x1 groups=channels // 4
        else: conv make_divisible(width * 0.75, 8) 1x1; upsample 2 mode=bilinear
        global avgpool; dropout 0.5 if not true; linear 1_000
        output aux: conv(channels=8); conv_head 3x299x299; addition; x2; max; 3x3.5; 3x; 12,34
    audit:
        trainable = 22,855,952  "paper"
        note macs = 1.5e9
        output = 1000
"""

VARIANT = 'variant xception_gw4 of "../xception.x" (group_width=4, flavour=keras1)\n'


@needs_node
@pytest.mark.parametrize("text", [SNIPPET, VARIANT], ids=["network", "variant"])
def test_grammar_agrees_with_pygments_on_every_construct(text: str, tmp_path: Path) -> None:
    path = tmp_path / "snippet.x"
    path.write_text(text, encoding="utf-8")
    assert disagreements(text, textmate_scopes([path])[str(path)]) == []


def test_disagreements_are_found() -> None:
    """The comparison reports a token the grammar classes differently, with its position."""
    text = "network n:\n    conv 3\n"
    tokens = [[[0, 7, ["source.xdsl", "keyword.other.declaration.network.xdsl"]],
               [8, 9, ["source.xdsl", "entity.name.type.network.xdsl"]]],
              [[4, 8, ["source.xdsl", "variable.other.readwrite.xdsl"]],
               [9, 10, ["source.xdsl", "constant.numeric.integer.xdsl"]]], []]
    assert disagreements(text, tokens) == ["2:5 'conv' pygments='op' textmate=''"]


@needs_node
def test_grammar_tests_pass() -> None:
    """The grammar's own tests (tests/*.test.x) through vscode-tmgrammar-test (npm)."""
    tests = sorted(str(p.relative_to(EXT)) for p in (EXT / "tests").glob("*.test.x"))
    assert len(tests) >= 3
    tool = EXT / "node_modules" / "vscode-tmgrammar-test" / "dist" / "unit.js"
    result = subprocess.run(["node", str(tool), *tests], cwd=EXT, capture_output=True,
                            text=True, timeout=120, check=False)
    assert result.returncode == 0, result.stdout + result.stderr
    assert result.stdout.count("run successfuly") == len(tests), result.stdout


# ---- the client and the package -------------------------------------------------------------

SERVER = {"server.path": sys.executable, "server.args": ["-m", "xdsl", "lsp"]}


def smoke(settings: dict) -> subprocess.CompletedProcess[str]:
    """extension.js activated outside VS Code (scripts/smoke.js), with these settings."""
    return subprocess.run(["node", str(EXT / "scripts" / "smoke.js"), json.dumps(settings)],
                          cwd=EXT, capture_output=True, text=True, timeout=120, check=False)


@needs_node
def test_client_starts_the_language_server() -> None:
    """The extension's client spawns `xdsl lsp`, and the handshake carries the parameters."""
    result = smoke({**SERVER, "parameters": {"classes": 10, "residuals": False}})
    assert result.returncode == 0, result.stderr
    answer = json.loads(result.stdout)
    assert answer["server"]["name"] == "xdsl"
    assert answer["initializationOptions"] == {"parameters": {"classes": 10, "residuals": False}}
    assert answer["hover"] is True


@needs_node
def test_client_says_when_the_server_is_missing(tmp_path: Path) -> None:
    result = smoke({"server.path": str(tmp_path / "no-xdsl"), "server.args": ["lsp"]})
    assert result.returncode == 1
    assert f"could not start `{tmp_path / 'no-xdsl'} lsp`" in result.stderr
    assert 'set "xdsl.server.path"' in result.stderr


@needs_node
def test_vsix_packages(tmp_path: Path) -> None:
    """`vsce package` (npm's @vscode/vsce) builds the extension, with its client library."""
    vsix = tmp_path / "xdsl.vsix"
    vsce = EXT / "node_modules" / "@vscode" / "vsce" / "vsce"
    result = subprocess.run(["node", str(vsce), "package", "--allow-missing-repository",
                             "--out", str(vsix)], cwd=EXT, capture_output=True, text=True,
                            timeout=300, check=False)
    assert result.returncode == 0, result.stdout + result.stderr
    names = set(zipfile.ZipFile(vsix).namelist())
    assert {"extension/package.json", "extension/extension.js", "extension/readme.md",
            "extension/language-configuration.json", "extension/syntaxes/xdsl.tmLanguage.json",
            "extension/node_modules/vscode-languageclient/node.js"} <= names
    assert not any(n.startswith(("extension/tests/", "extension/scripts/",
                                 "extension/node_modules/vscode-tmgrammar-test/")) for n in names)


# ---- the grammar's tables -------------------------------------------------------------------

def scope_names(node: object) -> set[str]:
    if isinstance(node, dict):
        own = {node["name"]} if isinstance(node.get("name"), str) else set()
        return own | set().union(*map(scope_names, node.values()))
    if isinstance(node, list):
        return set().union(*map(scope_names, node))
    return set()


def words(scope: str) -> set[str]:
    """The words of the patterns (or first captures) named scope: `\\b(?:a|b|c)\\b` → a, b, c."""
    found: set[str] = set()

    def visit(node: object) -> None:
        if isinstance(node, dict):
            if node.get("name") == scope and "match" in node:
                found.update(re.findall(r"\w+", re.sub(r"\\[bs]|\(\?[:!=]|\\\(", " ",
                                                       node["match"])))
            for key, capture in node.get("captures", {}).items():
                if capture["name"] == scope:
                    group = re.findall(r"\(([^()]*)\)", node["match"])[int(key) - 1]
                    found.update(re.findall(r"\w+", group))
            for value in node.values():
                visit(value)
        elif isinstance(node, list):
            for value in node:
                visit(value)

    visit(GRAMMAR)
    return found


def test_every_scope_has_a_class() -> None:
    assert {s.removesuffix(".xdsl") for s in scope_names(GRAMMAR["repository"])} \
        == set(SCOPE_CLASSES) - {"source"}
    assert all(s.endswith(".xdsl") for s in scope_names(GRAMMAR["repository"]))


def test_grammar_words_follow_the_language_tables() -> None:
    """The words the grammar lists are xdsl's: a keyword or op added to the language fails here."""
    keywords = set().union(*(words(f"{s}.xdsl") for s, kind in SCOPE_CLASSES.items()
                             if kind == "keyword"))
    assert keywords == set(KEYWORDS)
    assert words("support.function.op.xdsl") == set(OPS) - set(KEYWORDS)
    assert words("support.function.builtin.xdsl") == set(FUNCTIONS)
    assert words("storage.type.xdsl") == set(PARAM_TYPES)
    assert words("constant.language.boolean.xdsl") == {"true", "false"}
    assert words("constant.language.symbol.xdsl") \
        == {"same", "valid", "none", *option_words("upsample", "mode")}
    assert words("variable.language.channels.xdsl") == {CHANNELS}


def test_words_reads_the_patterns() -> None:
    assert words("keyword.operator.word.xdsl") == {"and", "or", "not", "x"}
    assert words("keyword.other.declaration.network.xdsl") == {"network"}
    assert "repeat" in words("keyword.control.xdsl")


# ---- the manifest and the language configuration --------------------------------------------

def test_manifest_declares_the_language_and_grammar() -> None:
    contributes = MANIFEST["contributes"]
    (language,) = contributes["languages"]
    assert language["id"] == "xdsl" and language["extensions"] == [".x"]
    assert (EXT / language["configuration"]).is_file()
    (grammar,) = contributes["grammars"]
    assert grammar["language"] == "xdsl"
    assert GRAMMAR_PATH == EXT / "syntaxes" / "xdsl.tmLanguage.json" and GRAMMAR_PATH.is_file()
    assert grammar["scopeName"] == GRAMMAR["scopeName"] == "source.xdsl"
    assert MANIFEST["activationEvents"] == ["onLanguage:xdsl"]
    assert (EXT / MANIFEST["main"]).is_file()
    assert "vscode-languageclient" in MANIFEST["dependencies"]
    assert {"@vscode/vsce", "vscode-tmgrammar-test", "vscode-textmate", "vscode-oniguruma"} \
        <= set(MANIFEST["devDependencies"])
    assert (EXT / "README.md").is_file() and (EXT / "LICENSE").is_file()


def test_client_reads_only_declared_settings() -> None:
    """Every setting and command the client uses is declared in package.json, and vice versa."""
    client = (EXT / MANIFEST["main"]).read_text(encoding="utf-8")
    declared = set(MANIFEST["contributes"]["configuration"]["properties"])
    read = {f"xdsl.{key}" for key in re.findall(r"config\.get\('([\w.]+)'", client)}
    assert read == declared - {"xdsl.trace.server"}  # the trace setting: vscode-languageclient's
    assert "'xdsl'," in client  # the client's id, which names xdsl.trace.server
    assert "configurationSection: 'xdsl'" in client  # a change of parameters reaches the server
    commands = {c["command"] for c in MANIFEST["contributes"]["commands"]}
    assert commands == set(re.findall(r"registerCommand\('([\w.]+)'", client))


def test_node_modules_and_packages_are_not_committed() -> None:
    ignored = (EXT / ".gitignore").read_text(encoding="utf-8").split()
    assert {"node_modules/", "*.vsix", "out/"} <= set(ignored)
    assert (EXT / "package-lock.json").is_file()  # `npm ci` installs exactly these


LANGUAGE = json.loads((EXT / "language-configuration.json").read_text(encoding="utf-8"))


def test_language_configuration() -> None:
    assert LANGUAGE["comments"] == {"lineComment": "#"}
    assert LANGUAGE["brackets"] == [["(", ")"]]
    assert LANGUAGE["folding"] == {"offSide": True}


@pytest.mark.parametrize(("line", "indents"), [
    ("network xception(classes: int = 1000):", True),
    ("    flow entry:", True),
    ("    block down(c1: int, c2: int):   # a comment: with a colon", True),
    ("        residual project(conv c2 1x1 stride=2) if residuals else none:", True),
    ('variant v of "a:b.x" (w=1):', True),
    ("    defaults:", True),
    ("        conv 32 3x3; relu", False),
    ("                 order: choice(a, b) = a,", False),
    ("        repeat 3: relu; sepconv width 3x3", False),
    ("    # a comment ending in a colon:", False),
    ('        trainable = 1  "note:"', False),
])
def test_indentation_after_a_colon(line: str, indents: bool) -> None:
    pattern = LANGUAGE["indentationRules"]["increaseIndentPattern"]
    assert bool(re.search(pattern, line)) is indents


def test_dedent_at_else() -> None:
    pattern = LANGUAGE["indentationRules"]["decreaseIndentPattern"]
    assert re.search(pattern, "        else:") and not re.search(pattern, "    elsewhere: 1")
