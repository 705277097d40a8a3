"""Measurements behind docs/llm.md: LLM mode on an eval set against a configured endpoint.

    JICENG_LLM_BASE_URL=http://127.0.0.1:8080/v1 python -m bench.llm_measure [--split test] [--out f.jsonl]

Per question it asks extractively and in LLM mode over the current index of JICENG_DATA_DIR, and
reports: how many answers the model wrote that survived the checks, how many fell back and why,
the share of model sentences dropped as unsupported, citation validity (quote == document text),
answer-key coverage of both modes, and the latency the model adds.
"""

from __future__ import annotations

import argparse
import json
import logging
import statistics
from pathlib import Path

from jiceng.evals.goldset import load_eval_set
from jiceng.evals.metrics import percentile
from jiceng.qa.llm import MODE_LLM
from jiceng.qa.service import QAService
from jiceng.settings import get_settings
from jiceng.types import Answer


class _Reasons(logging.Handler):
    """Collects the writer's INFO lines: why a sentence was dropped, why an answer fell back."""

    def __init__(self) -> None:
        super().__init__(logging.INFO)
        self.messages: list[str] = []

    def emit(self, record: logging.LogRecord) -> None:
        self.messages.append(record.getMessage())


def _key_coverage(answer: Answer, keys: list[str]) -> float:
    return sum(key in answer.answer for key in keys) / len(keys)


def measure(set_path: Path | None, split: str, out: Path | None) -> dict:
    settings = get_settings()
    if not settings.llm.base_url:
        raise SystemExit("set JICENG_LLM_BASE_URL first")
    reasons = _Reasons()
    logger = logging.getLogger("jiceng.qa.llm")
    logger.addHandler(reasons)
    logger.setLevel(logging.INFO)
    service = QAService(settings)
    rows = []
    for item in load_eval_set(set_path, split):
        reasons.messages.clear()
        extractive = service.ask(item.question, mode="extractive")
        llm = service.ask(item.question, mode="llm")
        rows.append(
            {
                "id": item.id,
                "sent": not extractive.abstained,
                "mode": llm.mode,
                "abstained": llm.abstained,
                "valid": all(
                    service.document(c.doc_id).text[c.start : c.end] == c.quote for c in llm.citations
                ),
                "kept": int(llm.timings_ms.get("llm_sentences_kept", 0)),
                "dropped": sum(m.startswith("dropped") for m in reasons.messages),
                "failed": any("LLM call failed" in m for m in reasons.messages),
                "llm_ms": llm.timings_ms.get("llm"),
                "coverage": (_key_coverage(extractive, item.keys), _key_coverage(llm, item.keys))
                if item.keys and not extractive.abstained
                else None,
                "answer": llm.answer,
                "log": list(reasons.messages),
            }
        )
    if out:
        out.write_text("".join(json.dumps(r, ensure_ascii=False) + "\n" for r in rows), encoding="utf-8")
    sent = [r for r in rows if r["sent"]]
    written = [r for r in sent if r["mode"] == MODE_LLM]
    kept = sum(r["kept"] for r in sent)
    dropped = sum(r["dropped"] for r in sent)
    latencies = [r["llm_ms"] for r in sent if r["llm_ms"] is not None]
    coverage = [r["coverage"] for r in sent if r["coverage"]]
    return {
        "split": split,
        "questions": len(rows),
        "sent_to_model": len(sent),
        "abstentions_kept": sum(r["abstained"] for r in rows if not r["sent"]),
        "model_answers_kept": len(written),
        "fallback_call_failed": sum(r["failed"] for r in sent),
        "fallback_nothing_supported": len(sent) - len(written) - sum(r["failed"] for r in sent),
        "sentences_kept": kept,
        "sentences_dropped": dropped,
        "drop_share": round(dropped / (kept + dropped), 3) if kept + dropped else None,
        "citation_validity": sum(r["valid"] for r in rows) / len(rows) if rows else None,
        "llm_ms_p50": round(statistics.median(latencies)) if latencies else None,
        "llm_ms_p95": round(percentile(latencies, 95)) if latencies else None,
        "key_coverage_extractive": round(statistics.mean(c[0] for c in coverage), 3) if coverage else None,
        "key_coverage_llm": round(statistics.mean(c[1] for c in coverage), 3) if coverage else None,
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--set", type=Path, default=None, help="eval set JSONL (default: the newest blind set, jiceng eval's default)")
    parser.add_argument("--split", default="test", choices=["dev", "test", "all"])
    parser.add_argument("--out", type=Path, default=None, help="write one JSON line per question here")
    args = parser.parse_args()
    print(json.dumps(measure(args.set, args.split, args.out), ensure_ascii=False, indent=2))


if __name__ == "__main__":
    main()
