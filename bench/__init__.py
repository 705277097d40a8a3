"""Measurement of jiceng from the outside: benchmarks against naive baselines (``jiceng bench``), the
measurement scripts behind docs/*.md, and the synthetic corpora they run on.

Not part of the installed ``jiceng`` package: it lives in a source checkout and imports only jiceng's
public API. Run its scripts from the checkout's root (``python -m bench.qa_measure fusion``); ``jiceng
bench`` finds this folder itself (``jiceng.bench_command``).
"""

from __future__ import annotations

import sys
from pathlib import Path

CHECKOUT = Path(__file__).resolve().parent.parent  # the folder holding bench/

# The checkout goes on the child's sys.path at run time, not through PYTHONPATH: on PYTHONPATH its site/
# folder (jiceng.site's sources) would shadow the standard library's ``site`` while Python starts.
_BOOT = "import runpy, sys; sys.path.insert(0, {root!r}); runpy.run_module({module!r}, run_name='__main__', alter_sys=True)"


def module_argv(module: str, *args: str) -> list[str]:
    """The command line running ``python -m MODULE ARGS`` for a module of this package, from any folder."""
    return [sys.executable, "-c", _BOOT.format(root=str(CHECKOUT), module=module), *args]
