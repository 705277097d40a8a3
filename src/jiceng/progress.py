"""Progress of long work: rich's live bar on a terminal, plain lines on stderr everywhere else.

rich draws its bar only on a terminal; written to a file or a pipe it shows nothing until the end, and
an ingest of 100k chunks runs for hours (nohup'd, under cron, or as a child of ``jiceng bench``, which
forwards the lines it sees). No library prints this kind of sparse, log-friendly line (tqdm piped to a
file writes ten carriage-return frames a second), hence the few lines here.
"""

from __future__ import annotations

import sys
import time
from collections.abc import Callable
from contextlib import nullcontext
from dataclasses import dataclass, field
from typing import Any, Protocol, Self

from rich.console import Console
from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeRemainingColumn

MARK = "[进度 / progress]"


class ProgressBar(Protocol):
    """What long work reports to (rich's ``Progress`` and ``ProgressLines`` both are one)."""

    def add_task(self, description: str, *, total: float | None = ...) -> Any: ...

    def advance(self, task_id: Any, advance: float = 1) -> None: ...


@dataclass
class _Task:
    description: str
    total: int | None
    done: int = 0
    shown_done: int = 0
    shown_at: float = field(default_factory=time.monotonic)


class ProgressLines:
    """One line per task on stderr at its first step, at most every ``every_s`` seconds after, and when
    it is complete: count, share, rate over the last interval and the time that rate leaves.

    The first step gets its own line because it often jumps (cached vectors are counted at once): it
    says where the work resumes, and rates are measured from there.
    """

    def __init__(self, every_s: float = 30.0) -> None:
        self.every_s = every_s
        self._tasks: list[_Task] = []

    def __enter__(self) -> Self:
        return self

    def __exit__(self, *exc: object) -> None:
        return None

    def add_task(self, description: str, *, total: float | None = None, **_: Any) -> int:
        self._tasks.append(_Task(description, None if total is None else int(total)))
        return len(self._tasks) - 1

    def advance(self, task_id: int, advance: float = 1) -> None:
        if not advance:
            return
        task, now = self._tasks[task_id], time.monotonic()
        first = task.done == 0
        task.done += int(advance)
        complete = task.total is not None and task.done >= task.total
        if not (first or complete or now - task.shown_at >= self.every_s):
            return
        rate = None if first or now <= task.shown_at else (task.done - task.shown_done) / (now - task.shown_at)
        print(_line(task, rate, complete), file=sys.stderr, flush=True)
        task.shown_done, task.shown_at = task.done, now


def _line(task: _Task, rate: float | None, complete: bool) -> str:
    parts = [f"{MARK} {task.description}: {task.done:,}"]
    if task.total:
        parts[0] += f"/{task.total:,} ({100 * task.done // task.total}%)"  # floored: 100% only when done
    if rate:
        parts.append(f"{rate:.1f}/s")
        if task.total and not complete:
            minutes = round((task.total - task.done) / rate / 60)
            parts.append(f"剩余约 / about {minutes // 60} h {minutes % 60:02d} min left")
    return ", ".join(parts)


def stage(bar: ProgressBar | None, description: str, total: int | None) -> Callable[[int], None] | None:
    """A new task on ``bar`` and the callback that advances it by n; ``None`` when there is no bar."""
    if bar is None:
        return None
    task = bar.add_task(description, total=total)
    return lambda n: bar.advance(task, n)


def progress_display(enabled: bool) -> Progress | ProgressLines | nullcontext:
    """A context manager that is a ``ProgressBar`` when ``enabled`` (else ``None`` inside ``with``)."""
    if not enabled:
        return nullcontext()
    console = Console(stderr=True)
    if not console.is_terminal:
        return ProgressLines()
    return Progress(
        TextColumn("{task.description}"), BarColumn(), MofNCompleteColumn(), TimeRemainingColumn(),
        console=console, transient=True,
    )
