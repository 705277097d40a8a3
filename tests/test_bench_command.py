"""``jiceng bench`` stays a command of every install, though the benchmark lives in the checkout's bench/."""

from __future__ import annotations

import typer
from typer.testing import CliRunner

from jiceng import bench_command
from jiceng.errors import InputError

from .conftest import REPO


def test_the_checkout_jiceng_runs_from_is_found() -> None:
    assert bench_command.find_checkout() == REPO.resolve()


def test_without_a_checkout_the_command_says_what_it_needs_in_both_languages(monkeypatch) -> None:
    monkeypatch.setattr(bench_command, "find_checkout", lambda: None)
    app = typer.Typer()
    bench_command.register_cli(app)

    @app.command("other")  # a second command, so `bench` is a subcommand as in `jiceng`
    def other() -> None: ...

    result = CliRunner().invoke(app, ["bench", "--size", "1k", "--quick"])
    assert isinstance(result.exception, InputError)
    assert "需要源码仓库" in result.exception.message_zh
    assert "needs a source checkout" in result.exception.message_en
