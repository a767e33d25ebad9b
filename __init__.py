"""The checkout's root, not the xdsl package (that is ``xdsl/`` here, installed by pip).

Python started in the folder above a clone named ``xdsl`` finds the clone itself first when it
imports ``xdsl``, because that folder leads ``sys.path``; without this file the clone would be
an empty namespace package shadowing the installed one (an editable install included). This
file hands the import over to the installed package, or says what to do when there is none.
"""

import importlib
import os
import sys


def _hand_over(name: str, here: str) -> None:
    def is_here(entry: str) -> bool:
        try:
            return os.path.samefile(os.path.join(entry or os.curdir, name), here)
        except OSError:
            return False

    saved = sys.path[:]
    sys.path[:] = [entry for entry in saved if not is_here(entry)]
    del sys.modules[name]
    try:
        importlib.import_module(name)  # the installed package takes this module's place
    except ModuleNotFoundError as e:
        if e.name != name:
            raise
        raise ImportError(f"`import {name}` found the clone {here} (Python was started in the "
                          f"folder above it) and no installed {name}: install it with `pip "
                          f"install -e {here}`, or start Python elsewhere") from None
    finally:
        sys.path[:] = saved + [entry for entry in sys.path if entry not in saved]


if __name__ == "xdsl":
    _hand_over(__name__, os.path.dirname(os.path.abspath(__file__)))
