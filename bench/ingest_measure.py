"""Measurements behind docs/ingest.md: ingest throughput and re-ingest cost, and the chunk-size choice.

    python -m bench.ingest_measure throughput corpus/
    python -m bench.ingest_measure chunking --sizes 150,300,450 --overlaps 0,1 [--set SET.jsonl]
    python -m bench.ingest_measure stages bench/out/10k/corpus

``throughput`` runs ``jiceng ingest`` as child processes (each child's own peak RSS and CPU time from ``wait4``) on a
copy of the folder: first ingest into an empty data dir, the same again unchanged, then with one file
changed. ``chunking`` ingests corpus/ per setting and scores retrieval on the dev split of an eval set
(default: the newest blind set): a hit is a top-k chunk overlapping at least half of a gold quote's span;
the hybrid ranking is the product's own fusion (``jiceng.qa.retrieval.fuse``). ``stages`` times every stage but
embedding on a large folder (vectors are random: embedding 10k chunks takes about an hour on a small
CPU and is measured on its own), building a generation twice to show what the token cache saves.
"""

from __future__ import annotations

import argparse
import json
import os
import shutil
import subprocess
import sys
import tempfile
import time
from pathlib import Path

from jiceng.evals.goldset import EvalItem, load_eval_set
from jiceng.qa.retrieval import fuse
from jiceng.settings import Settings
from jiceng.text import normalize_question


def _run_ingest(folder: Path, data_dir: Path) -> dict:
    """One ``jiceng ingest --json`` child: its report, wall seconds and peak RSS (MiB)."""
    env = {**os.environ, "JICENG_DATA_DIR": str(data_dir)}
    began = time.perf_counter()
    proc = subprocess.Popen([Path(sys.executable).parent / "jiceng", "ingest", str(folder), "--json"],
                            env=env, stdout=subprocess.PIPE, stderr=subprocess.DEVNULL)
    out = proc.stdout.read()
    _, status, usage = os.wait4(proc.pid, 0)
    report = json.loads(out)
    return {"wall_s": round(time.perf_counter() - began, 2), "ingest_s": report["seconds"],
            "cpu_s": round(usage.ru_utime + usage.ru_stime, 2), "chunks": report["chunks"],
            "embedded": report["embedded"], "exit": os.waitstatus_to_exitcode(status),
            "peak_rss_mib": round(usage.ru_maxrss / 1024)}


def throughput(folder: Path) -> dict:
    with tempfile.TemporaryDirectory() as tmp:
        work = Path(tmp) / "docs"
        shutil.copytree(folder, work)
        data_dir = Path(tmp) / "data"
        first = _run_ingest(work, data_dir)
        unchanged = _run_ingest(work, data_dir)
        victim = next(p for p in sorted(work.rglob("*")) if p.suffix in (".md", ".txt") and p.name != "README.md")
        victim.write_text(victim.read_text(encoding="utf-8") + "\n\n补充说明一句。\n", encoding="utf-8")
        one_changed = _run_ingest(work, data_dir)
    first["chunks_per_s"] = round(first["chunks"] / first["ingest_s"], 2)
    first["chunks_per_cpu_s"] = round(first["chunks"] / first["cpu_s"], 2)  # steadier on a shared machine
    for run in (unchanged, one_changed):
        run["share_of_first_ingest_s"] = round(run["ingest_s"] / first["ingest_s"], 4)
    return {"first": first, "unchanged": unchanged, "one_changed": one_changed}


def _score(settings: Settings, items: list[EvalItem], k: int) -> dict:
    from jiceng.ingest.store import open_current

    snapshot = open_current(settings)
    spans: dict[str, list[tuple[str, int, int]]] = {}  # gold quote -> (doc_id, start, end) everywhere it occurs
    for item in items:
        for quote in item.gold:
            for doc in snapshot.documents.values():
                at = doc.text.find(quote)
                while at >= 0:
                    spans.setdefault(quote, []).append((doc.doc_id, at, at + len(quote)))
                    at = doc.text.find(quote, at + 1)

    def hit_rank(ranked: list[int], quotes: list[str]) -> int | None:
        for rank, index in enumerate(ranked[:k], start=1):
            chunk = snapshot.chunks[index]
            for quote in quotes:
                for doc_id, a, b in spans.get(quote, []):
                    if doc_id == chunk.doc_id and min(b, chunk.end) - max(a, chunk.start) >= (b - a) / 2:
                        return rank
        return None

    depth = settings.retrieval.candidates
    results: dict[str, list[int | None]] = {"bm25": [], "dense": [], "hybrid": []}
    queries = [normalize_question(item.question) for item in items]  # as retrieval searches them
    vectors = snapshot.embedder.embed_queries(queries)
    for item, query, vector in zip(items, queries, vectors):
        lexical = snapshot.bm25_search(query, depth)
        dense = snapshot.dense_search(vector, depth)
        # The product's fusion with its defaults, so this scores what the retriever ranks.
        hybrid = fuse([lexical, dense], rrf_k=settings.retrieval.rrf_k)
        for name, ranked in (("bm25", lexical), ("dense", dense), ("hybrid", hybrid)):
            results[name].append(hit_rank([index for index, _ in ranked], item.gold))
    summary = {"chunks": len(snapshot.chunks),
               "mean_chars": round(sum(len(c.text) for c in snapshot.chunks) / len(snapshot.chunks))}
    for name, ranks in results.items():
        summary[f"{name}_hit@1"] = round(sum(r == 1 for r in ranks) / len(ranks), 3)
        summary[f"{name}_hit@{k}"] = round(sum(r is not None for r in ranks) / len(ranks), 3)
        summary[f"{name}_mrr"] = round(sum(1 / r for r in ranks if r) / len(ranks), 3)
    return summary


def chunking(
    sizes: list[int], overlaps: list[int], corpus: Path, data_dir: Path, k: int, set_path: Path | None = None
) -> list[dict]:
    """Retrieval quality per (chunk_chars, overlap_sentences); one data dir, so the embedding cache is shared."""
    from jiceng.ingest.pipeline import ingest_paths

    items = [i for i in load_eval_set(set_path, "dev") if i.answerable]
    rows = []
    for size in sizes:
        for overlap in overlaps:
            settings = Settings(data_dir=data_dir, ingest={"chunk_chars": size, "overlap_sentences": overlap})
            report = ingest_paths([corpus], settings, progress=False)
            row = {"chunk_chars": size, "overlap": overlap, "ingest_s": report.seconds, **_score(settings, items, k)}
            print(json.dumps(row, ensure_ascii=False), flush=True)
            rows.append(row)
    return rows


def stages(folder: Path) -> dict:
    import resource

    import numpy as np

    from jiceng.ingest import store
    from jiceng.ingest.chunking import chunk_document, index_text
    from jiceng.ingest.loaders import load_document
    from jiceng.text import tokenize

    class RandomVectors:  # build_generation reads only these two attributes of the embedder
        model_id, dim = "random", 384

    timings: dict[str, float] = {}

    def timed(name: str, work):
        began = time.perf_counter()
        result = work()
        timings[name] = round(time.perf_counter() - began, 2)
        return result

    with tempfile.TemporaryDirectory() as tmp:
        settings = Settings(data_dir=Path(tmp))
        files = sorted(p for p in folder.rglob("*") if p.suffix in (".md", ".txt"))
        docs = timed("load_s", lambda: [load_document(p, settings) for p in files])
        chunks = timed("chunk_s", lambda: [c for d in docs for c in chunk_document(d, settings)])
        by_id = {d.doc_id: d for d in docs}
        timed("tokenize_s", lambda: [tokenize(index_text(by_id[c.doc_id], c)) for c in chunks])
        vectors = np.random.default_rng(0).standard_normal((len(chunks), 384)).astype(np.float32)
        vectors /= np.linalg.norm(vectors, axis=1, keepdims=True)
        timed("build_first_s", lambda: store.build_generation(settings, docs, chunks, vectors, RandomVectors()))
        timed("build_again_s", lambda: store.build_generation(settings, docs, chunks, vectors, RandomVectors()))
        timed("read_generation_s", lambda: store.read_current(settings))
    return {"files": len(files), "chunks": len(chunks), **timings,
            "peak_rss_mib": resource.getrusage(resource.RUSAGE_SELF).ru_maxrss // 1024}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    sub = parser.add_subparsers(dest="command", required=True)
    t = sub.add_parser("throughput")
    t.add_argument("folder", type=Path)
    c = sub.add_parser("chunking")
    c.add_argument("--sizes", default="100,150,200,300,450")
    c.add_argument("--overlaps", default="0,1")
    c.add_argument("--corpus", type=Path, default=Path("corpus"))
    c.add_argument("--data-dir", type=Path, default=Path(tempfile.gettempdir()) / "jiceng-chunking")
    c.add_argument("--k", type=int, default=5)
    c.add_argument("--set", type=Path, default=None, help="eval set JSONL (default: the newest blind set, jiceng eval's default)")
    st = sub.add_parser("stages")
    st.add_argument("folder", type=Path)
    args = parser.parse_args()
    if args.command == "throughput":
        print(json.dumps(throughput(args.folder), indent=1))
    elif args.command == "stages":
        print(json.dumps(stages(args.folder), indent=1))
    else:
        chunking([int(s) for s in args.sizes.split(",")], [int(o) for o in args.overlaps.split(",")],
                 args.corpus, args.data_dir, args.k, args.set)


if __name__ == "__main__":
    main()
