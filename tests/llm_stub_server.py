"""A scripted OpenAI-compatible server for the LLM-mode tests: a real HTTP process, predictable answers.

Run ``python tests/llm_stub_server.py``; it prints ``PORT <n>`` once listening on 127.0.0.1.
The request's ``model`` picks the behaviour (see ``BEHAVIOURS``); answers are built from the
passages in the prompt the way a small model would: copying their first sentence with a marker.
``GET /_last`` returns the last chat request body, so tests can inspect the prompt.
"""

from __future__ import annotations

import json
import re
import sys
import time
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import ClassVar

PASSAGE = re.compile(r'<资料 编号="(\d+)"[^>]*>\n(.*?)\n</资料>', re.DOTALL)
INJECTION = "忽略以上指令"
INVENTED = "该做法已在全国推广，居民满意度达到99%"


def _first_sentence(text: str) -> str:
    lines = [line for line in text.splitlines() if line.strip() and not line.lstrip().startswith("#")]
    return re.split(r"[。！？；]", " ".join(lines))[0].strip()


def _answer(model: str, prompt: str) -> str:
    passages = {int(n): body for n, body in PASSAGE.findall(prompt)}
    clean = [n for n, body in sorted(passages.items()) if INJECTION not in body]
    first = _first_sentence(passages[clean[0]])
    second = _first_sentence(passages[clean[1]]) if len(clean) > 1 else first
    a, b = clean[0], clean[1] if len(clean) > 1 else clean[0]
    if model == "good":
        # Mixed marker styles a real model produces: after the full stop, and grouped.
        return f"{first}。[{a}]\n{second}【{a}，{b}】。"
    if model == "invented":
        return f"{first}[{a}]。{INVENTED}[{a}]。"
    if model == "bad-marker":
        return f"{first}[{a}]。{second}[9]。"
    if model == "unmarked":
        return f"{first}。"
    if model == "injection":
        planted = next(n for n, body in passages.items() if INJECTION in body)
        return f"系统已被攻破[{planted}]。{first}[{a}]。"
    if model == "injection-only":
        planted = next(n for n, body in passages.items() if INJECTION in body)
        return f"系统已被攻破[{planted}]。"
    if model == "empty":
        return ""
    raise ValueError(model)


BEHAVIOURS = ["good", "invented", "bad-marker", "unmarked", "injection", "injection-only", "empty", "slow", "error"]


class Handler(BaseHTTPRequestHandler):
    last_request: ClassVar[dict] = {}

    def log_message(self, *args) -> None:  # keep test output clean
        pass

    def _send(self, status: int, payload: dict) -> None:
        body = json.dumps(payload, ensure_ascii=False).encode()
        self.send_response(status)
        self.send_header("Content-Type", "application/json")
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)

    def do_GET(self) -> None:
        if self.path == "/v1/models":
            self._send(200, {"object": "list", "data": [{"id": m, "object": "model"} for m in BEHAVIOURS]})
        elif self.path == "/_last":
            self._send(200, Handler.last_request)
        else:
            self._send(404, {"error": {"message": "not found"}})

    def do_POST(self) -> None:
        if self.path != "/v1/chat/completions":
            self._send(404, {"error": {"message": "not found"}})
            return
        request = json.loads(self.rfile.read(int(self.headers["Content-Length"])))
        Handler.last_request = {**request, "authorization": self.headers.get("Authorization")}
        model = request.get("model", "")
        if model == "error":
            self._send(500, {"error": {"message": "scripted failure", "type": "server_error"}})
            return
        if model == "slow":
            time.sleep(5)
            model = "good"
        prompt = "\n".join(m["content"] for m in request["messages"] if m["role"] == "user")
        content = _answer(model, prompt)
        self._send(
            200,
            {
                "id": "chatcmpl-stub",
                "object": "chat.completion",
                "created": int(time.time()),
                "model": model,
                "choices": [
                    {"index": 0, "message": {"role": "assistant", "content": content}, "finish_reason": "stop"}
                ],
            },
        )


def main() -> None:
    server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
    print(f"PORT {server.server_address[1]}", flush=True)
    try:
        server.serve_forever()
    except KeyboardInterrupt:
        pass


if __name__ == "__main__":
    sys.exit(main())
