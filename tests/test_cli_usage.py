"""Mistyped command lines as a new user types them, through the real ``jiceng`` entry point: usage line,
a Chinese and English hint, exit status 2, and neither a crash log nor a traceback."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest

JICENG = Path(sys.executable).parent / "jiceng"


def _run(*args: str, data_dir: Path) -> subprocess.CompletedProcess:
    env = {**os.environ, "JICENG_DATA_DIR": str(data_dir), "COLUMNS": "80"}
    return subprocess.run([JICENG, *args], env=env, capture_output=True, text=True, timeout=120, check=False)


@pytest.mark.parametrize(
    ("args", "usage", "zh", "en", "help_hint"),
    [
        (
            ["ask", "--topk", "3", "社区议事会怎么开"],
            "Usage: jiceng ask",
            "没有选项 --topk",
            "No such option: --topk",
            "jiceng ask --help",
        ),
        (["frobnicate"], "Usage: jiceng [OPTIONS] COMMAND", "没有命令 frobnicate", "No such command", "jiceng --help"),
        (["ask"], "Usage: jiceng ask", "缺少参数 'question'", "Missing argument 'question'", "jiceng ask --help"),
        (
            ["ask", "--top-k", "abc", "社区议事会怎么开"],
            "Usage: jiceng ask",
            "参数 '--top-k' / '-k' 的值无效",
            "Invalid value for '--top-k'",
            "jiceng ask --help",
        ),
    ],
    ids=["unknown-option", "unknown-command", "missing-argument", "bad-value"],
)
def test_usage_error_prints_usage_and_bilingual_hint_exits_2_without_crash_log(
    tmp_path: Path, args: list[str], usage: str, zh: str, en: str, help_hint: str
) -> None:
    data = tmp_path / "data"
    result = _run(*args, data_dir=data)

    assert result.returncode == 2, result.stderr
    err = result.stderr
    assert usage in err
    assert f"用法错误：{zh}" in err and f"查看帮助：{help_hint}" in err
    assert "Usage error: " in err and en in err and f"try '{help_hint}'" in err
    assert "Traceback" not in err + result.stdout
    assert "内部错误" not in err and "Internal error" not in err
    assert not (data / "logs" / "crash.log").exists()


def test_unknown_option_suggests_the_close_one(tmp_path: Path) -> None:
    result = _run("ask", "--topk", "3", "x", data_dir=tmp_path / "data")
    assert "--top-k" in result.stderr.split("用法错误")[1]
