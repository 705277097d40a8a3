"""How long ``jiceng serve`` takes until its index is loaded, and its peak RSS, three ways on one index.

    python bench/server_start.py DATA_DIR [ROUNDS]   # e.g. bench/out/20k/jiceng-data, 3 rounds

Arms, interleaved in each round: the HNSW graph the ingest saved (``dense.faiss``), the same generation
with that file moved aside so the server builds the graph from Chroma's vectors (as every server did
before the ingest saved it; the file is put back at once), and ``JICENG_RETRIEVAL_MEMORY_INDEX_MAX=0``
(Chroma answers every search). "Ready" is launch until ``/healthz`` answers, which opens the index (model,
imports and all); "open" is the server's own log of opening the index alone. One ``/ask`` follows so the
peak RSS includes a search.
"""

from __future__ import annotations

import re
import sys
import tempfile
from pathlib import Path

import httpx

from jiceng.bench.load import Server, free_port
from jiceng.ingest.store import MEMORY_INDEX_FILE, current_generation, generation_folder
from jiceng.settings import Settings

ARMS = {"saved graph": {}, "built at open": {}, "Chroma answers": {"JICENG_RETRIEVAL_MEMORY_INDEX_MAX": "0"}}


def start_once(data_dir: Path, env: dict[str, str], log: Path) -> tuple[float, float, float]:
    port = free_port()
    argv = [str(Path(sys.executable).parent / "jiceng"), "serve", "--port", str(port)]
    with Server(argv, port, {"JICENG_DATA_DIR": str(data_dir), **env}, log) as server:
        server.start()
        httpx.post(server.url + "/ask", json={"question": "如何推进接诉即办？"}, timeout=60)
        rss_mib = server.peak_rss() / 2**20
    opened = re.search(r"loaded index generation .* in ([0-9.]+) s", log.read_text(encoding="utf-8"))
    return server.ready_s, float(opened.group(1)) if opened else float("nan"), rss_mib


def main(data_dir: Path, rounds: int) -> None:
    settings = Settings(data_dir=data_dir)
    generation = current_generation(settings)
    if generation is None:
        raise SystemExit(f"{data_dir} holds no index: run jiceng ingest (or jiceng bench) on it first")
    saved = generation_folder(settings, generation) / MEMORY_INDEX_FILE
    if not saved.is_file():
        raise SystemExit(f"{saved} does not exist: ingest this index again with the current jiceng")
    aside = saved.with_name(saved.name + ".aside")
    log = Path(tempfile.gettempdir()) / "jiceng-server-start.log"
    for _ in range(rounds):
        for arm, env in ARMS.items():
            if arm == "built at open":
                saved.rename(aside)
            try:
                ready_s, open_s, rss_mib = start_once(data_dir, env, log)
            finally:
                if aside.exists():
                    aside.rename(saved)
            print(f"{arm:15s} ready {ready_s:6.2f} s   index opened in {open_s:5.2f} s   "
                  f"server peak RSS {rss_mib:5.0f} MiB", flush=True)


if __name__ == "__main__":
    if len(sys.argv) not in (2, 3):
        raise SystemExit(__doc__)
    main(Path(sys.argv[1]).resolve(), int(sys.argv[2]) if len(sys.argv) == 3 else 3)
