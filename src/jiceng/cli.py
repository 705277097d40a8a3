"""The ``jiceng`` command: parses arguments, calls the library, prints. Errors become messages here, once."""

from __future__ import annotations

import importlib
import logging
import re
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
    "jiceng.qa.feedback_cli",
    "jiceng.site.cli",
    "jiceng.evals.cli",
    "jiceng.bench_command",
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
    except typer.Abort:
        err_console.print("已取消 / Aborted.")
        sys.exit(1)
    except Exception as exc:  # noqa: BLE001 - last line of defence: no traceback for users
        usage_error, click_exception = _click_exception_classes()
        if isinstance(exc, usage_error):
            _usage_error(exc)
        if isinstance(exc, click_exception):
            exc.show()
            sys.exit(exc.exit_code)
        log_dir = get_settings().data_dir / "logs"
        log_dir.mkdir(parents=True, exist_ok=True)
        (log_dir / "crash.log").write_text(traceback.format_exc(), encoding="utf-8")
        err_console.print(
            f"[bold red]内部错误[/]：{type(exc).__name__}: {escape(str(exc))}\n"
            f"Internal error; details in {log_dir / 'crash.log'}"
        )
        sys.exit(1)


def _click_exception_classes() -> tuple[type[Exception], type[Exception]]:
    """UsageError and ClickException of the click that typer raises from.

    typer >= 0.2x vendors its own click (``typer._click``) whose classes are not ``click``'s; older
    typer raises ``click``'s. ``typer.BadParameter`` is public in both, and its bases are the two.
    """
    bases = {cls.__name__: cls for cls in typer.BadParameter.__mro__}
    return bases["UsageError"], bases["ClickException"]


def _usage_error(exc: Exception) -> NoReturn:
    """A mistyped command line: the command's usage line, what is wrong in Chinese and English, where the
    help is; exit 2 (the usual status of a usage error) and no crash log, since nothing crashed."""
    ctx = getattr(exc, "ctx", None)
    if type(exc).__name__ == "NoArgsIsHelpError":  # bare ``jiceng`` / ``jiceng site``: typer printed the help
        sys.exit(2)
    command = ctx.command_path if ctx is not None else "jiceng"
    message_en = exc.format_message()
    usage = f"{ctx.get_usage()}\n" if ctx is not None else ""
    err_console.print(
        f"{escape(usage)}[bold red]用法错误[/]：{escape(_usage_error_zh(exc, message_en))}；"
        f"查看帮助：{escape(command)} --help\n"
        f"[bold red]Usage error[/]: {escape(message_en.rstrip('.'))}; try '{escape(command)} --help'",
        soft_wrap=True,
    )
    sys.exit(2)


def _usage_error_zh(exc: Exception, message_en: str) -> str:
    """The Chinese half of a usage error, by kind (click's messages are English only)."""
    kind = type(exc).__name__
    if kind == "NoSuchOption":
        possible = getattr(exc, "possibilities", None)
        return f"没有选项 {exc.option_name}" + (f"（可用的相近选项：{', '.join(sorted(possible))}）" if possible else "")
    if kind == "BadOptionUsage":
        return f"选项 {exc.option_name} 用法不对"
    if kind in ("MissingParameter", "BadParameter"):
        hint = _param_hint(exc)
        return f"缺少参数 {hint}" if kind == "MissingParameter" else f"参数 {hint} 的值无效"
    if match := re.match(r"No such command '(.*)'", message_en):
        return f"没有命令 {match.group(1)}"
    if message_en.startswith("Got unexpected extra argument"):
        return "多出了参数（含空格的问题请加引号）"
    return "命令行参数有误"


def _param_hint(exc: Exception) -> str:
    hint = getattr(exc, "param_hint", None)
    param = getattr(exc, "param", None)
    if hint is None and param is not None:
        try:
            hint = param.get_error_hint()  # typer's vendored click
        except TypeError:
            hint = param.get_error_hint(exc.ctx)  # click
    if hint is not None and not isinstance(hint, str):
        hint = " / ".join(repr(h) for h in hint)
    return hint or ""


def _interrupted() -> NoReturn:
    err_console.print("已中断，已有数据未受影响。 / Interrupted; existing data is untouched.")
    sys.exit(INTERRUPTED)


if __name__ == "__main__":
    main()
