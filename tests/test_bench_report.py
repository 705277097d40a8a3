"""The benchmark's verdicts and report say what a run measured, and no more: a warm-cache ingest is no
embedding throughput, and its report says how much was embedded."""

from __future__ import annotations

from typing import Any

from bench.report import markdown_report
from bench.runner import check_targets

LATENCY = {"n": 20, "p50_ms": 18.0, "p95_ms": 26.0, "p99_ms": 30.0, "qps": 45.0, "errors": 0}


def _system(chunks: int, embedded: int | None, texts: int | None = None, **extra: Any) -> dict[str, Any]:
    """``texts``: every text the model embedded (jiceng: chunks and their sentences), default the chunks."""
    texts = chunks if texts is None else texts
    ingest = {"seconds": 10.0, "cpu_s": 12.0, "chunks": chunks, "embedded": embedded, "peak_rss": 300 * 2**20,
              "chunks_per_s": chunks / 10.0, "chunks_per_cpu_s": chunks / 12.0,
              "texts_per_s": texts / 10.0, "texts_per_cpu_s": texts / 12.0}
    endpoints = {f"{e}_c{c}": dict(LATENCY) for e in ("search", "ask") for c in (1, 8)}
    return {"chunks": chunks, "ingest": ingest, "index_bytes": 2**20, "server_peak_rss": 250 * 2**20,
            "cached_repeat": {"p50_ms": 1.2}, **endpoints, **extra}


def _results(jiceng_embedded: int, naive_embedded: int) -> dict[str, Any]:
    ours = _system(1000, jiceng_embedded, texts=3400 if jiceng_embedded else 0, reingest={"seconds": 0.3, "embedded": 0, "share_of_first": 0.03},
                   server_ready_s=4.26)
    ours["ask_c1"] |= {"server_total_p50_ms": 16.0, "server_stages_p50_ms": {"embed": 13.0, "total": 16.0}}
    results = {
        "size": "1k", "corpus": {"chunks": 1000, "files": 70, "chars": 210_000},
        "config": {"baselines": ["naive", "bm25"], "requests_c1": 20, "requests_c8": 20, "time_limit_s": 30.0},
        "machine": {"date": "2026-11-27T04:35:46+00:00", "cpus": 2, "loadavg_1min": {"start": 0.3, "end": 2.1}},
        "bare": {"query": {"n": 20, "p50_ms": 13.0, "p95_ms": 16.0, "block": 20},
                 "passages": {"texts_per_s": 400.0, "texts_per_cpu_s": 300.0, "batch": 32, "texts": 200,
                              "sentence_share": 0.7}},
        "systems": {"jiceng": ours, "naive": _system(330, naive_embedded), "bm25": _system(950, None)},
        "profile": {"ask_in_process": {"p50_ms": 17.0}, "stages_p50_ms": {"embed": 12.0, "total": 17.0},
                    "top_own_time": [{"function": "qa/answer.py:candidate_sentences", "ms": 0.3, "calls": 1}]},
    }
    results["targets"] = check_targets(results)
    return results


def _target(results: dict[str, Any], name: str) -> dict[str, Any]:
    return next(t for t in results["targets"] if t["target"].startswith(name))


def test_a_cold_ingest_is_judged_against_the_bare_embedding_throughput() -> None:
    cold = _results(jiceng_embedded=998, naive_embedded=330)  # two repeated passage texts embedded once
    # Every text the ingest embedded counts, the sentences as well as the chunks.
    ingest = _target(cold, "ingest ÷ bare embedding")
    assert ingest["measured"] == round((3400 / 12.0) / 300.0, 3) and ingest["ok"] is True
    report = markdown_report(cold)
    assert "cached" not in report.split("| target")[0]  # the ingest row carries no cache note
    assert _target(cold, "unchanged re-ingest")["measured"] == 0.03


def test_a_warm_cache_ingest_is_not_judged_and_the_report_says_how_much_was_embedded() -> None:
    warm = _results(jiceng_embedded=0, naive_embedded=120)
    ingest = _target(warm, "ingest ÷ bare embedding")
    assert ingest["measured"] is None and ingest["ok"] is None
    reingest = _target(warm, "unchanged re-ingest")  # set against a warm ingest, not the first one
    assert reingest["measured"] is None and reingest["ok"] is None
    assert _target(warm, "/ask p50 (c=1) ÷ bare")["ok"] is True  # the other targets are still judged
    report = markdown_report(warm)
    assert "| ingest, s | 10.0 (all passages cached) | 10.0 (120 of 330 embedded) | 10.0 |" in report
    assert "| — | >= 0.8 | not measured (passages read from the cache) |" in report


def test_a_report_written_before_the_baselines_ran_names_them() -> None:
    partial = _results(jiceng_embedded=998, naive_embedded=330)
    del partial["systems"]["naive"], partial["systems"]["bm25"]
    partial["targets"] = check_targets(partial)
    report = markdown_report(partial)
    assert "had not reached them, when this was written): naive llama-index, bm25s only." in report
    assert "Not measured" not in markdown_report(_results(jiceng_embedded=998, naive_embedded=330))


def test_a_measurement_cut_short_by_the_time_limit_is_named_with_its_count() -> None:
    results = _results(jiceng_embedded=998, naive_embedded=330)
    assert "Cut short" not in markdown_report(results)
    results["systems"]["jiceng"]["ask_c8"]["n"] = 13  # a loaded machine: 13 answers within the limit
    assert "**Cut short** by the 30 s limit per measurement (requests answered of those planned): " \
           "jiceng /ask c=8 (13 of 20)." in markdown_report(results)


def test_a_setting_changed_through_the_environment_is_named_in_the_report() -> None:
    results = _results(jiceng_embedded=998, naive_embedded=330)
    assert "Settings from the environment" not in markdown_report(results)
    results["env_settings"] = {"JICENG_RETRIEVAL_MEMORY_INDEX_MAX": "0"}  # one arm of an A/B
    assert "Settings from the environment: `JICENG_RETRIEVAL_MEMORY_INDEX_MAX=0`." in markdown_report(results)


def test_the_report_says_how_long_a_server_took_to_load_its_index() -> None:
    report = markdown_report(_results(jiceng_embedded=998, naive_embedded=330))
    assert "| server start until ready (index loaded), s | 4.3 | — | — |" in report  # "—": not in these results
