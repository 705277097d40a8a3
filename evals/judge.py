"""Optional LLM judging: RAGAS-style faithfulness through the configured OpenAI-compatible endpoint.

Not the ragas package: it pulls in langchain and a dataset stack for one prompt. Here the judge
splits an answer into statements and counts those its quotes support, as RAGAS faithfulness does,
in one call per answer over the same ``chat_completion`` the LLM answer mode uses.
"""

from __future__ import annotations

import json
import re
from collections.abc import Mapping, Sequence
from statistics import fmean
from typing import Any

from jiceng.settings import Settings

PROMPT = (
    "你是严格的评审。把下面的回答拆成独立的事实陈述，逐条判断能否由“引用原文”直接推出（不能推出或原文未提及都算不支持）。"
    '只输出 JSON：{{"statements": 陈述总数, "supported": 有依据的陈述数}}。\n\n'
    "引用原文：\n{quotes}\n\n回答：\n{answer}"
)
_JSON = re.compile(r"\{.*?\}", re.DOTALL)


def judge_available(settings: Settings) -> bool:
    return bool(settings.llm.base_url)


SKIPPED = {
    "status": "skipped",
    "reason": "未配置 LLM（JICENG_LLM_BASE_URL），跳过 LLM 评审 / no LLM configured (JICENG_LLM_BASE_URL): judging skipped",
}


def faithfulness(records: Sequence[Mapping[str, Any]], settings: Settings) -> dict[str, Any]:
    """Mean share of supported statements over answered records; unparseable verdicts are counted apart."""
    if not judge_available(settings):
        return dict(SKIPPED)
    import httpx

    from jiceng.qa.llm import chat_completion

    scores, errors = [], 0
    for record in records:
        if record["abstained"] or not record["citations"]:
            continue
        quotes = "\n".join(f"[{c['n']}] {c['quote']}" for c in record["citations"])
        prompt = PROMPT.format(quotes=quotes, answer=record["answer"])
        try:
            reply = chat_completion(settings, [{"role": "user", "content": prompt}])
            verdict = json.loads(_JSON.search(reply).group())
            scores.append(min(1.0, int(verdict["supported"]) / max(1, int(verdict["statements"]))))
        except (httpx.HTTPError, AttributeError, ValueError, KeyError, TypeError):
            errors += 1
    return {
        "status": "ok",
        "model": settings.llm.model,
        "faithfulness": fmean(scores) if scores else None,
        "judged": len(scores),
        "errors": errors,
    }
