"""The ``jiceng`` command: parses arguments, calls the library, prints. Errors become messages here, once."""

from __future__ import annotations

import importlib
import logging
import sys
import traceback
from typing import NoReturn

import typer
from rich.console import Console
from rich.markup import escape

from jiceng import __version__
from jiceng.errors import JicengError
from jiceng.settings import get_settings

err_console = Console(stderr=True)
INTERRUPTED = 130  # exit status of a command stopped by Ctrl-C (128 + SIGINT)

app = typer.Typer(
    name="jiceng",
    help=(
        "基层治理知识库：带引文的中文问答、培训案例库与答案质量评估。\n\n"
        "Grassroots-governance knowledge base: cited Chinese Q&A, a case library for trainers "
        "and answer-quality evaluation. Settings come from JICENG_* environment variables or jiceng.toml."
    ),
    no_args_is_help=True,
    add_completion=False,
    context_settings={"help_option_names": ["-h", "--help"]},
    rich_markup_mode="rich",
)


def _version(value: bool) -> None:
    if value:
        print(f"jiceng {__version__}")
        raise typer.Exit()


@app.callback()
def _root(
    verbose: bool = typer.Option(False, "--verbose", "-v", help="显示调试日志 / show debug logs."),
    version: bool = typer.Option(False, "--version", callback=_version, is_eager=True, help="版本 / version."),
) -> None:
    logging.basicConfig(
        level=logging.DEBUG if verbose else logging.INFO,
        format="%(asctime)s %(levelname)s %(name)s: %(message)s",
        stream=sys.stderr,
    )
    for noisy in ("httpx", "chromadb", "urllib3", "jieba", "sentence_transformers"):
        logging.getLogger(noisy).setLevel(logging.WARNING)


# Each stage owns its commands and exposes register_cli(app); the CLI only collects them, in help order.
_COMMAND_MODULES = (
    "jiceng.ingest.cli",
    "jiceng.qa.cli",
    "jiceng.site.cli",
    "jiceng.evals.cli",
    "jiceng.bench.cli",
    "jiceng.corpus",
)


def _register_commands() -> None:
    for module_name in _COMMAND_MODULES:
        importlib.import_module(module_name).register_cli(app)


def main() -> None:
    """Entry point: run the app; turn library errors into short bilingual messages and exit codes."""
    _register_commands()
    try:
        result = app(standalone_mode=False)
        if result == INTERRUPTED:  # how typer reports Ctrl-C (KeyboardInterrupt) inside a command
            _interrupted()
        sys.exit(result if isinstance(result, int) else 0)
    except JicengError as exc:
        err_console.print(f"[bold red]错误[/]：{escape(exc.message_zh)}\n[bold red]Error[/]: {escape(exc.message_en)}")
        sys.exit(2)
    except KeyboardInterrupt:
        _interrupted()
    except typer.Exit as exc:
        sys.exit(exc.exit_code)
    except Exception as exc:  # noqa: BLE001 - last line of defence: no traceback for users
        import click

        if isinstance(exc, click.exceptions.ClickException):
            exc.show()
            sys.exit(exc.exit_code)
        if isinstance(exc, click.exceptions.Abort):
            err_console.print("已取消 / Aborted.")
            sys.exit(1)
        log_dir = get_settings().data_dir / "logs"
        log_dir.mkdir(parents=True, exist_ok=True)
        (log_dir / "crash.log").write_text(traceback.format_exc(), encoding="utf-8")
        err_console.print(
            f"[bold red]内部错误[/]：{type(exc).__name__}: {escape(str(exc))}\n"
            f"Internal error; details in {log_dir / 'crash.log'}"
        )
        sys.exit(1)


def _interrupted() -> NoReturn:
    err_console.print("已中断，已有数据未受影响。 / Interrupted; existing data is untouched.")
    sys.exit(INTERRUPTED)


if __name__ == "__main__":
    main()
