"""What uvicorn + FastAPI themselves cost per request, without retrieval or the model: three stub routes
answering with a fixed ``AskResponse``, one stdlib client sending requests one at a time, and what one
uvicorn access-log line costs.

    python bench/framework_cost.py [N]

Routes: ``/fixed`` returns a fixed body; ``/validated`` takes an ``AskRequest`` body the way ``/ask`` does
(FastAPI parses and validates it) and answers with ``AskResponse.of(...).model_dump_json()`` as ``/ask``
does; ``/by-hand`` does the same but parses the body itself. The client runs in the same process (one
extra thread), so the figures are a floor for a real client in another process.
"""

from __future__ import annotations

import http.client
import json
import logging.config
import statistics
import sys
import tempfile
import threading
import time

import uvicorn
from fastapi import FastAPI, Request
from fastapi.responses import Response
from uvicorn.config import LOGGING_CONFIG

from jiceng.qa.schemas import AskRequest, AskResponse
from jiceng.types import Answer

ANSWER = Answer(question="问题", answer="答" * 80 + "[1]", abstained=False, citations=[], passages=[])
BODY = json.dumps({"question": "朝阳区邻里节让居民参与率提高了多少？"}).encode()


def stub_app() -> FastAPI:
    app = FastAPI()

    @app.post("/fixed")
    async def fixed() -> Response:
        return Response(b"{}", media_type="application/json")

    @app.post("/validated")
    async def validated(body: AskRequest) -> Response:
        return Response(AskResponse.of(ANSWER).model_dump_json(), media_type="application/json")

    @app.post("/by-hand")
    async def by_hand(request: Request) -> Response:
        AskRequest.model_validate_json(await request.body())
        return Response(AskResponse.of(ANSWER).model_dump_json(), media_type="application/json")

    return app


def round_trip_p50(port: int, path: str, n: int) -> float:
    connection = http.client.HTTPConnection("127.0.0.1", port)
    latencies = []
    for _ in range(n):
        began = time.perf_counter()
        connection.request("POST", path, body=BODY, headers={"Content-Type": "application/json"})
        connection.getresponse().read()
        latencies.append((time.perf_counter() - began) * 1000)
    connection.close()
    return statistics.median(latencies)


def access_log_line_us(n: int) -> float:
    """One line of uvicorn's access log, with its default configuration, written to a file."""
    logging.config.dictConfig(LOGGING_CONFIG)
    logger = logging.getLogger("uvicorn.access")
    with tempfile.TemporaryFile("w") as sink:
        logger.handlers[0].setStream(sink)
        began = time.perf_counter()
        for _ in range(n):
            logger.info('%s - "%s %s HTTP/%s" %d', "127.0.0.1:50000", "POST", "/ask", "1.1", 200)
        return (time.perf_counter() - began) / n * 1e6


def main(n: int = 2000) -> None:
    from jiceng.bench.load import free_port

    port = free_port()
    server = uvicorn.Server(uvicorn.Config(stub_app(), host="127.0.0.1", port=port, log_level="warning"))
    threading.Thread(target=server.run, daemon=True).start()
    while not server.started:
        time.sleep(0.05)
    for path in ("/fixed", "/validated", "/by-hand"):
        round_trip_p50(port, path, 50)  # warm-up
    for path in ("/fixed", "/validated", "/by-hand") * 2:
        print(f"{path}: round trip p50 {round_trip_p50(port, path, n):.3f} ms over {n} requests")
    server.should_exit = True
    print(f"uvicorn access-log line: {access_log_line_us(20 * n):.1f} µs")


if __name__ == "__main__":
    main(*[int(a) for a in sys.argv[1:2]])
