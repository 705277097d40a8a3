"""Regression gate: metrics of the regression set against the floors and ceilings kept in evals/thresholds.json."""

from __future__ import annotations

import json
from collections.abc import Mapping, Sequence
from importlib import resources
from pathlib import Path
from typing import Any

from jiceng.errors import InputError
from jiceng.evals.report import metric


def default_thresholds_path() -> Path:
    return Path(str(resources.files("jiceng.evals") / "thresholds.json"))


def load_thresholds(path: Path | None = None) -> dict[str, Any]:
    """``{"set": "regression", "split": "all", "modes": {mode: {"min": {path: value}, "max": {path: value}}}}``."""
    path = path or default_thresholds_path()
    try:
        data = json.loads(path.read_text(encoding="utf-8"))
        modes = data["modes"]
        assert isinstance(modes, dict) and modes
    except (OSError, json.JSONDecodeError, KeyError, AssertionError) as exc:
        raise InputError(f"阈值文件无效：{path}（{exc}）", f"invalid thresholds file {path}: {exc}",
                         code="bad_thresholds") from exc
    return data


def check_thresholds(summaries: Sequence[Mapping[str, Any]], thresholds: Mapping[str, Any]) -> list[str]:
    """Human-readable violations; empty means the gate passes. A missing mode or metric is a violation."""
    by_mode = {s["mode"]: s for s in summaries}
    violations = []
    for mode, bounds in thresholds["modes"].items():
        summary = by_mode.get(mode)
        if summary is None:
            violations.append(f"{mode}: not evaluated")
            continue
        for kind, limits in bounds.items():
            for path, limit in limits.items():
                value = metric(summary, path)
                if value is None:
                    violations.append(f"{mode} {path}: missing")
                elif (kind == "min" and value < limit) or (kind == "max" and value > limit):
                    sign = ">=" if kind == "min" else "<="
                    violations.append(f"{mode} {path} = {value:.3f}, needs {sign} {limit}")
    return violations
