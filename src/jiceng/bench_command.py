"""``jiceng bench`` in the installed package: finds the measurement code of a source checkout and hands over.

The benchmark (``bench/`` at the top of the repository) is not installed with jiceng: it measures the
product from the outside. The command exists in every install; where no checkout is found it says so,
in Chinese and English, instead of failing on an import.
"""

from __future__ import annotations

import importlib
import os
import sys
from pathlib import Path

import typer

from jiceng.errors import InputError

BENCH_DIR_ENV = "JICENG_BENCH_CHECKOUT"  # a checkout to use when neither the install nor the cwd is one


def find_checkout() -> Path | None:
    """The source checkout holding ``bench/``: ``$JICENG_BENCH_CHECKOUT``, the checkout jiceng is installed
    from in editable mode (``src/jiceng`` -> its root), or the current folder; None when none has it."""
    candidates = [Path(p) for p in (os.environ.get(BENCH_DIR_ENV),) if p]
    candidates += [Path(__file__).resolve().parents[2], Path.cwd()]
    for root in candidates:
        if (root / "bench" / "__init__.py").is_file() and (root / "bench" / "cli.py").is_file():
            return root.resolve()
    return None


def _missing(ctx: typer.Context) -> None:
    """需要源码仓库中的 bench/ 目录 / Needs the bench/ folder of a source checkout."""
    raise InputError(
        f"jiceng bench 需要源码仓库（含 bench/ 目录）：在仓库根目录运行，或设置 {BENCH_DIR_ENV}=仓库路径；"
        "安装包本身不含基准测试代码",
        f"jiceng bench needs a source checkout (with its bench/ folder): run it from the checkout's root or set "
        f"{BENCH_DIR_ENV}=/path/to/checkout; the installed package does not ship the benchmark",
    )


def register_cli(app: typer.Typer) -> None:
    root = find_checkout()
    if root is None:
        settings = {"allow_extra_args": True, "ignore_unknown_options": True, "help_option_names": []}
        app.command("bench", context_settings=settings, add_help_option=False)(_missing)
        return
    if str(root) not in sys.path:
        sys.path.insert(0, str(root))
    importlib.import_module("bench.cli").register_cli(app)
