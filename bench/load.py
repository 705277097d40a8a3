"""HTTP side of the benchmark: start a server process on a loopback port, wait for it, drive load at it.

The load generator is a thread pool of keep-alive ``httpx`` clients: latencies are client-observed
(network stack + framework + handler), which is what a browser or script calling the API sees.
"""

from __future__ import annotations

import contextlib
import os
import signal
import socket
import subprocess
import threading
import time
from collections import Counter
from collections.abc import Callable, Iterator, Sequence
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import httpx
import numpy as np
import psutil

from jiceng.errors import BackendUnavailableError


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


@contextlib.contextmanager
def stop_signals_held() -> Iterator[None]:
    """Hold Ctrl-C and SIGTERM until the block has run, then act on them. Raised inside ``Popen``, or
    before its result is stored, they leave a child running that nothing can stop: a bench stopped on
    a loaded machine left its ``jiceng serve`` behind. Only the main thread sees signals."""
    if threading.current_thread() is not threading.main_thread():
        yield
        return
    held: list[int] = []
    # An ignored signal (nohup) stays ignored, for the child too; None: a handler set outside Python.
    before = {
        sig: handler
        for sig in (signal.SIGINT, signal.SIGTERM)
        if (handler := signal.getsignal(sig)) not in (None, signal.SIG_IGN)
    }
    for sig in before:
        signal.signal(sig, lambda signum, frame: held.append(signum))
    try:
        yield
    finally:
        for sig, handler in before.items():
            signal.signal(sig, handler)
        if held:
            signal.raise_signal(held[0])  # now to the handler it was meant for


def wait_or_kill(proc: subprocess.Popen, timeout_s: float = 20.0) -> None:
    """Wait for ``proc``, asked to end, to exit; kill it if it is still running after ``timeout_s``."""
    try:
        proc.wait(timeout=timeout_s)
    except subprocess.TimeoutExpired:
        proc.kill()
        proc.wait()


@dataclass
class Server:
    """A server child process (and its workers) bound to ``127.0.0.1:port``."""

    argv: list[str]
    port: int
    env: dict[str, str] = field(default_factory=dict)
    log_path: Path | None = None
    proc: subprocess.Popen | None = None
    ready_s: float | None = None  # from launch until ``ready_path`` answered 200 (jiceng: index loaded)

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    def start(self, ready_path: str = "/healthz", timeout_s: float = 180.0) -> Server:
        log = open(self.log_path, "wb") if self.log_path else subprocess.DEVNULL  # noqa: SIM115
        with stop_signals_held():
            self.proc = subprocess.Popen(self.argv, env={**os.environ, **self.env}, stdout=log, stderr=log)
        launched = time.monotonic()
        deadline = launched + timeout_s
        while time.monotonic() < deadline:
            if self.proc.poll() is not None:
                raise BackendUnavailableError(
                    f"服务进程退出（{self.proc.returncode}），见 {self.log_path}",
                    f"server process exited ({self.proc.returncode}); see {self.log_path}",
                )
            try:
                if httpx.get(self.url + ready_path, timeout=2).status_code == 200:
                    self.ready_s = time.monotonic() - launched
                    return self
            except httpx.TransportError:
                pass
            time.sleep(0.2)
        self.stop()
        raise BackendUnavailableError(
            f"服务 {timeout_s:.0f} 秒内未就绪，见 {self.log_path}",
            f"server not ready within {timeout_s:.0f} s; see {self.log_path}",
        )

    def peak_rss(self) -> int:
        """Sum over the process tree of each process's high-water RSS (VmHWM), bytes."""
        if self.proc is None:
            return 0
        total = 0
        root = psutil.Process(self.proc.pid)
        for proc in [root, *root.children(recursive=True)]:
            try:
                status = Path(f"/proc/{proc.pid}/status").read_text()
            except OSError:
                continue
            total += next(int(line.split()[1]) * 1024 for line in status.splitlines() if line.startswith("VmHWM"))
        return total

    def stop(self) -> None:
        if self.proc and self.proc.poll() is None:
            self.proc.terminate()
            wait_or_kill(self.proc)

    def __enter__(self) -> Server:
        return self

    def __exit__(self, *exc) -> None:
        self.stop()


@dataclass
class LoadResult:
    latencies_ms: list[float]
    errors: int
    statuses: dict[int, int]
    wall_s: float
    server_timings: list[dict[str, float]] = field(default_factory=list)

    def summary(self) -> dict[str, Any]:
        """Percentiles, QPS, and p50 of the server's own ``timings_ms`` stages when responses carry them."""
        values = np.asarray(self.latencies_ms) if self.latencies_ms else np.asarray([np.nan])
        p50, p95, p99 = np.percentile(values, [50, 95, 99])
        out = {"n": len(self.latencies_ms), "errors": self.errors, "p50_ms": float(p50),
               "p95_ms": float(p95), "p99_ms": float(p99),
               "qps": len(self.latencies_ms) / self.wall_s if self.wall_s else 0.0}
        if self.server_timings:
            stages = {stage for timings in self.server_timings for stage in timings}
            out["server_stages_p50_ms"] = {
                stage: float(np.median([t[stage] for t in self.server_timings if stage in t])) for stage in stages
            }
            out["server_total_p50_ms"] = out["server_stages_p50_ms"].get("total", float("nan"))
        return out

    @classmethod
    def joined(cls, parts: Sequence[LoadResult]) -> LoadResult:
        """One result of loads run one after another (QPS over their summed wall time)."""
        statuses = sum((Counter(p.statuses) for p in parts), Counter())
        return cls([ms for p in parts for ms in p.latencies_ms], sum(p.errors for p in parts), dict(statuses),
                   sum(p.wall_s for p in parts), [t for p in parts for t in p.server_timings])


Send = Callable[[httpx.Client, str], httpx.Response]


def ask(client: httpx.Client, question: str) -> httpx.Response:
    return client.post("/ask", json={"question": question, "top_k": 5})


def search(client: httpx.Client, question: str) -> httpx.Response:
    return client.get("/search", params={"q": question, "k": 10})


ENDPOINTS: dict[str, Send] = {"search": search, "ask": ask}


def drive(
    base_url: str, send: Send, questions: Sequence[str], concurrency: int, time_limit_s: float
) -> LoadResult:
    """One request per question with ``concurrency`` clients; stop early after ``time_limit_s``.

    Only 200 responses count as latencies; anything else counts as an error.
    """
    lock = threading.Lock()
    latencies: list[float] = []
    server_timings: list[dict[str, float]] = []
    statuses: dict[int, int] = {}
    errors = 0
    queue = iter(questions)
    deadline = time.monotonic() + time_limit_s

    def client_loop() -> None:
        nonlocal errors
        with httpx.Client(base_url=base_url, timeout=60) as client:
            while time.monotonic() < deadline:
                with lock:
                    question = next(queue, None)
                if question is None:
                    return
                started = time.perf_counter()
                try:
                    response = send(client, question)
                    status = response.status_code
                except httpx.HTTPError:
                    status = 0
                elapsed = (time.perf_counter() - started) * 1000
                timings = response.json().get("timings_ms") if status == 200 else None
                with lock:
                    statuses[status] = statuses.get(status, 0) + 1
                    if status == 200:
                        latencies.append(elapsed)
                        if timings:
                            server_timings.append(timings)
                    else:
                        errors += 1

    started = time.perf_counter()
    with ThreadPoolExecutor(concurrency) as pool:
        for future in [pool.submit(client_loop) for _ in range(concurrency)]:
            future.result()
    return LoadResult(latencies, errors, statuses, time.perf_counter() - started, server_timings)


# Between the two processes' turns: libgomp's worker threads spin for a while after a parallel region
# (GOMP_SPINCOUNT), and the other process's first call should not share a core with them.
_TURN_PAUSE_S = 0.05


def drive_with_floor(
    base_url: str, send: Send, questions: Sequence[str], floor: Callable[[list[str]], None],
    block: int, time_limit_s: float,
) -> LoadResult:
    """Concurrency 1 in blocks of ``block`` questions, each block first embedded by the bare model
    (``floor``, another process) and then sent: requests and floor see the same minutes of a machine
    whose speed drifts by a tenth within minutes. The floor keeps its own latencies."""
    deadline = time.monotonic() + time_limit_s
    parts: list[LoadResult] = []
    for start in range(0, len(questions), block):
        if time.monotonic() >= deadline:
            break
        batch = list(questions[start : start + block])
        floor(batch)
        time.sleep(_TURN_PAUSE_S)
        parts.append(drive(base_url, send, batch, 1, deadline - time.monotonic()))
        time.sleep(_TURN_PAUSE_S)
    return LoadResult.joined(parts)
