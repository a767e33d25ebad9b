"""Spec text → Python source: the only way a name or value from a spec enters generated code.

Generated code (the compiled ``forward``, the ``--export-py`` file) is made from numbers and from
text that a spec, its file name or ``--set`` chose. Every such text goes through one function
here, by where it lands:

- :func:`literal`: a Python expression (``repr`` of strings; ``float("inf")`` for
  non-finite floats, which have no literal);
- :func:`doc_text`: text inside a ``\"\"\"docstring\"\"\"`` (escaped so that the docstring's
  *value* is the text, whatever quotes, backslashes or control characters it holds);
- :func:`comment_text`: text after ``#`` (one line, nothing that ends the comment);
- :func:`attr_name`: a scope or layer name as a module attribute (one component of a
  state_dict key);
- :func:`identifier`: a name as a local variable of generated code.

Nothing here imports torch.
"""

from __future__ import annotations

import keyword
from typing import Any

# nn.Module's public attribute names (torch 2.x), the attributes of a compiled network and the
# Python keywords: a scope named like one of them would shadow it or not parse. Frozen here, not
# read from torch, so that state_dict keys do not change with the torch version (a test checks
# that the installed torch adds none).
MODULE_ATTRS = frozenset("""
    T_destination add_module apply bfloat16 buffers call_super_init children compile cpu cuda
    double dump_patches eval extra_repr float forward get_buffer get_extra_state get_parameter
    get_submodule half ipu load_state_dict modules mtia named_buffers named_children
    named_modules named_parameters parameters register_backward_hook register_buffer
    register_forward_hook register_forward_pre_hook register_full_backward_hook
    register_full_backward_pre_hook register_load_state_dict_post_hook
    register_load_state_dict_pre_hook register_module register_parameter
    register_state_dict_post_hook register_state_dict_pre_hook requires_grad_ set_extra_state
    set_submodule share_memory state_dict to to_empty train training type xpu zero_grad
    memory_format plan graph inplace forward_source
    False None True and as assert async await break class continue def del elif else except
    finally for from global if import in is lambda nonlocal not or pass raise return try while
    with yield
""".split())

PRIVATE_PREFIX = "_x"
"""Put before a name that starts with ``_``: nn.Module keeps its own state in such attributes,
and a name starting with ``__`` would be mangled inside the exported class body."""


def _reserved_stem(name: str) -> bool:
    """``name`` is a reserved attribute followed by zero or more underscores."""
    stem = name
    while True:
        if stem in MODULE_ATTRS:
            return True
        if not stem.endswith("_"):
            return False
        stem = stem[:-1]


def attr_name(part: str) -> str:
    """A scope or layer name as a module attribute, injectively.

    Ordinary names are kept, so state_dict keys are the IR names. A reserved name and the same
    name followed by underscores gain one more underscore (``training`` → ``training_``,
    ``training_`` → ``training__``), so no two names meet after escaping; a name starting with
    ``_`` gains the prefix ``_x`` (``_stem`` → ``_x_stem``), which no other rule produces.
    """
    if part.startswith("_"):
        return PRIVATE_PREFIX + part
    return part + "_" if _reserved_stem(part) else part


def identifier(name: str, reserved: frozenset[str]) -> str:
    """``name`` as a local variable: not a keyword or a name in ``reserved``, never mangled."""
    base = name.replace(".", "_")
    if base.startswith("__"):
        base = "v" + base
    while base in reserved or keyword.iskeyword(base):
        base += "_"
    return base


def _escape(ch: str, quotes: bool) -> str:
    if ch == "\\" or (quotes and ch == '"'):
        return "\\" + ch
    return ch if ch.isprintable() else repr(ch)[1:-1]


def doc_text(text: str) -> str:
    """``text`` for the inside of a ``\"\"\"`` string: backslashes, quotes and non-printable
    characters (newlines, NUL, lone surrogates) escaped, so the string's value is ``text``."""
    return "".join(_escape(ch, True) for ch in text)


def comment_text(text: str) -> str:
    """``text`` for a ``#`` comment: on one line, non-printable characters shown as escapes."""
    return "".join(_escape(ch, False) for ch in text)


def literal(value: Any) -> str:
    """A Python expression equal to ``value`` (a number, bool, string, None, tuple or anything
    with a ``source()`` method, such as a constructor :class:`~.lowering.Call`)."""
    if hasattr(value, "source"):
        return value.source()
    if isinstance(value, bool | int | str) or value is None:
        return repr(value)
    if isinstance(value, float):
        return repr(value) if value == value and abs(value) != float("inf") else \
            f'float("{value}")'
    if isinstance(value, tuple):
        return f"({', '.join(map(literal, value))}{',' if len(value) == 1 else ''})"
    raise TypeError(f"cannot print {value!r} as source")
