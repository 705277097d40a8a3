"""Where "HTTP + framework" goes on the server: ``jiceng``'s app behind an ASGI timer that measures, for
each ``/ask``, the time from the app receiving the request to it sending the last byte, and splits what
lies outside the service's own ``timings_ms.total`` into before ``QAService.ask_async`` is called
(routing, body parsing, validation) and after it returns (response JSON, headers, the write).

    JICENG_DATA_DIR=bench/out/10k/jiceng-data python bench/server_span.py 8987 &
    python bench/sequential_ask.py http://127.0.0.1:8987 300 --synthetic

Every 100 requests it prints p50s to stderr; the client's "HTTP + framework" minus the server's span is
uvicorn, the sockets and the client. uvicorn runs at warning level here (no access-log line).
"""

from __future__ import annotations

import json
import statistics
import sys
import time

import uvicorn

from jiceng.qa.api import create_app
from jiceng.qa.service import QAService

app = create_app()
stages: dict[str, list[float]] = {"span": [], "outside total": [], "before ask_async": [], "after ask_async": []}
marks: dict[str, float] = {}
_ask_async = QAService.ask_async


async def _marked_ask_async(self: QAService, *args, **kwargs):
    marks["called"] = time.perf_counter()
    answer = await _ask_async(self, *args, **kwargs)
    marks["returned"] = time.perf_counter()
    return answer


QAService.ask_async = _marked_ask_async  # requests come one at a time (sequential_ask.py), so one set of marks


async def timed(scope, receive, send) -> None:
    if scope["type"] != "http" or scope["path"] != "/ask":
        await app(scope, receive, send)
        return
    began = time.perf_counter()
    body: list[bytes] = []

    async def timed_send(message) -> None:
        await send(message)
        if message["type"] != "http.response.body":
            return
        body.append(message.get("body", b""))
        if message.get("more_body"):
            return
        ended = time.perf_counter()
        total = json.loads(b"".join(body)).get("timings_ms", {}).get("total")
        if total is None or "called" not in marks:
            return  # an error response
        stages["span"].append((ended - began) * 1000)
        stages["outside total"].append((ended - began) * 1000 - total)
        stages["before ask_async"].append((marks["called"] - began) * 1000)
        stages["after ask_async"].append((ended - marks["returned"]) * 1000)
        if len(stages["span"]) % 100 == 0:
            p50s = ", ".join(f"{name} {statistics.median(values):.3f}" for name, values in stages.items())
            print(f"n={len(stages['span'])} p50 ms: {p50s}", file=sys.stderr, flush=True)

    await app(scope, receive, timed_send)


if __name__ == "__main__":
    uvicorn.run(timed, host="127.0.0.1", port=int(sys.argv[1]), log_level="warning", lifespan="on")
