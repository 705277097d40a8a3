"""Plain progress lines (``jiceng.progress.ProgressLines``), on a fake clock: what a log shows of long work."""

from __future__ import annotations

import io
import sys

import pytest

from jiceng import progress


@pytest.fixture
def clock(monkeypatch: pytest.MonkeyPatch) -> list[float]:
    now = [1000.0]
    monkeypatch.setattr(progress.time, "monotonic", lambda: now[0])
    return now


def test_lines_show_the_resume_point_then_rate_and_time_left_then_completion(clock, capsys) -> None:
    bar = progress.ProgressLines(every_s=30)
    task = bar.add_task("向量化 / embedding", total=10_000)
    bar.advance(task, 0)  # nothing done yet: no line
    bar.advance(task, 4_000)  # cached vectors, counted at once: where the work resumes
    for _ in range(10):  # 10 s at 4 per second: within the interval, nothing printed
        clock[0] += 1
        bar.advance(task, 4)
    clock[0] += 20
    bar.advance(task, 80)  # 30 s after the first line: 120 passages, 4.0/s, 5,880 left ≈ 24.5 min
    clock[0] += 30
    bar.advance(task, 5_870)  # 99.9 %: not shown as 100 %
    clock[0] += 1
    bar.advance(task, 10)
    assert capsys.readouterr().err.splitlines() == [
        "[进度 / progress] 向量化 / embedding: 4,000/10,000 (40%)",
        "[进度 / progress] 向量化 / embedding: 4,120/10,000 (41%), 4.0/s, 剩余约 / about 0 h 24 min left",
        "[进度 / progress] 向量化 / embedding: 9,990/10,000 (99%), 195.7/s, 剩余约 / about 0 h 00 min left",
        "[进度 / progress] 向量化 / embedding: 10,000/10,000 (100%), 10.0/s",
    ]


def test_a_task_without_a_total_shows_count_and_rate(clock, capsys) -> None:
    bar = progress.ProgressLines(every_s=30)
    task = bar.add_task("naive 向量化 / embedding")
    bar.advance(task, 10)
    clock[0] += 40
    bar.advance(task, 40)
    assert capsys.readouterr().err.splitlines() == [
        "[进度 / progress] naive 向量化 / embedding: 10",
        "[进度 / progress] naive 向量化 / embedding: 50, 1.0/s",
    ]


def test_off_a_terminal_progress_is_plain_lines_and_disabled_is_nothing(monkeypatch) -> None:
    monkeypatch.setattr(sys, "stderr", io.StringIO())  # a log file, as under nohup or cron
    assert isinstance(progress.progress_display(True), progress.ProgressLines)
    with progress.progress_display(False) as bar:
        assert bar is None
        assert progress.stage(bar, "向量化 / embedding", 10) is None  # the work gets no callback to call
