"""Eval sets: JSONL files of questions with gold source spans, loaded and validated (format in evals/README.md)."""

from __future__ import annotations

import json
import logging
import re
from importlib import resources
from pathlib import Path
from typing import Literal

from pydantic import BaseModel, ConfigDict, Field, ValidationError, model_validator

from jiceng.errors import InputError

log = logging.getLogger(__name__)

Split = Literal["dev", "test", "all"]


class EvalItem(BaseModel):
    """One question with what a right answer must cite (``gold``) and say (``keys``).

    Fields of its own that an evaluator keeps beside these (a ``seed``, a reviewer, a note) are ignored,
    not refused; the known ones are validated as ever.
    """

    model_config = ConfigDict(extra="ignore")
    id: str = Field(min_length=1)
    question: str = Field(min_length=1)
    answerable: bool
    gold: list[str] = Field(default_factory=list, description="Exact substrings of the source holding the answer.")
    keys: list[str] = Field(default_factory=list, description="Short strings a correct answer contains.")
    tags: list[str] = Field(default_factory=list)
    split: Literal["dev", "test"] = "dev"

    @model_validator(mode="after")
    def _gold_iff_answerable(self) -> EvalItem:
        if self.answerable and not self.gold:
            raise ValueError("an answerable item needs at least one gold string")
        if not self.answerable and self.gold:
            raise ValueError("an unanswerable item cannot have gold strings")
        return self


# Blind sets whose test split is still unseen: tuning and fitting read their dev split only. A set leaves
# this list once its test split has been looked at, at the end of the work it judged (``fresh`` to
# ``fresh9``: all on 2026-12-03; ``fresh10`` to ``fresh16`` on 2026-12-04; ``fresh17`` to ``fresh27`` on 2026-12-05).
HELD_OUT = frozenset({"fresh28"})


def bundled_set_path(name: str) -> Path:
    """A bundled eval set: a blind set (``blind_set_names``; dev to tune on, test held out while in
    ``HELD_OUT``), a set written blind for fitting only (``dev21`` …) or ``regression`` (every earlier
    question, none held out: what the CI gate reads its floors from)."""
    return Path(str(resources.files("jiceng.evals") / "sets" / f"{name}.jsonl"))


def _bundled_names(prefix: str) -> list[str]:
    """The bundled sets named ``prefix`` and a number (``fresh`` alone counts as 1), newest first."""
    names = [p.name.removesuffix(".jsonl") for p in (resources.files("jiceng.evals") / "sets").iterdir()
             if re.fullmatch(rf"{prefix}\d*\.jsonl", p.name)]
    return sorted(names, key=lambda name: int(name.removeprefix(prefix) or 1), reverse=True)


def blind_set_names() -> list[str]:
    """The blind sets, newest (highest number) first, ``fresh`` last: a helper that read only the
    sources wrote each, in the kinds a cadre asks, split into dev and a test split frozen before tuning."""
    return _bundled_names("fresh")


def fitting_set_names() -> list[str]:
    """The sets written blind for fitting only, newest first (``dev26`` … ``dev21``): no test split."""
    return _bundled_names("dev")


def default_set_path() -> Path:
    """The set ``jiceng eval`` runs by default: the newest blind set, which judges the present round (its
    dev split unless told otherwise)."""
    return bundled_set_path(blind_set_names()[0])


def load_eval_set(path: Path | None = None, split: Split = "all") -> list[EvalItem]:
    """Items of an eval set, optionally only one split; bad lines raise ``InputError`` naming the line."""
    path = path or default_set_path()
    if not path.is_file():
        raise InputError(f"评估集文件不存在：{path}", f"eval set not found: {path}", code="eval_set_missing")
    items: list[EvalItem] = []
    ignored: set[str] = set()
    for number, line in enumerate(path.read_text(encoding="utf-8").splitlines(), start=1):
        if not line.strip():
            continue
        try:
            raw = json.loads(line)
            items.append(EvalItem.model_validate(raw))
            if isinstance(raw, dict):
                ignored.update(raw.keys() - EvalItem.model_fields.keys())
        except (json.JSONDecodeError, ValidationError) as exc:
            raise InputError(
                f"评估集 {path} 第 {number} 行格式错误：{exc}",
                f"eval set {path} line {number} is invalid: {exc}",
                code="bad_eval_set",
            ) from exc
    if ignored:  # named, so that a misspelt field ("tag" for "tags") does not pass unnoticed
        log.info("eval set %s: fields not used by jiceng, ignored: %s", path, ", ".join(sorted(ignored)))
    seen: set[str] = set()
    for item in items:
        if item.id in seen:
            raise InputError(f"评估集 id 重复：{item.id}", f"duplicate eval item id: {item.id}", code="bad_eval_set")
        seen.add(item.id)
    selected = [item for item in items if split == "all" or item.split == split]
    if not selected:
        raise InputError(f"评估集 {path} 中没有 {split} 题目", f"no {split} items in {path}", code="bad_eval_set")
    return selected
