"""LLM faithfulness judging over real HTTP against a scripted OpenAI-compatible endpoint, and the skip."""

from __future__ import annotations

import json
import threading
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

import pytest

from jiceng.evals.judge import faithfulness
from jiceng.settings import Settings

REPLIES = ['评审结果：{"statements": 2, "supported": 1}', "我无法判断。"]


@pytest.fixture()
def judge_server():
    prompts: list[str] = []

    class Handler(BaseHTTPRequestHandler):
        def log_message(self, *args) -> None:
            pass

        def do_POST(self) -> None:
            body = json.loads(self.rfile.read(int(self.headers["Content-Length"])))
            prompts.append(body["messages"][-1]["content"])
            reply = {"choices": [{"message": {"content": REPLIES[(len(prompts) - 1) % len(REPLIES)]}}]}
            data = json.dumps(reply, ensure_ascii=False).encode()
            self.send_response(200)
            self.send_header("Content-Type", "application/json")
            self.send_header("Content-Length", str(len(data)))
            self.end_headers()
            self.wfile.write(data)

    server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    yield f"http://127.0.0.1:{server.server_address[1]}/v1", prompts
    server.shutdown()


def _record(answer: str, quote: str | None, abstained: bool = False) -> dict:
    citations = [] if quote is None else [{"n": 1, "quote": quote}]
    return {"answer": answer, "citations": citations, "abstained": abstained}


RECORDS = [
    _record("参与率从不足30%提升至70%以上，纠纷减半[1]", "社区居民参与率从不足30%提升至70%以上"),
    _record("积分可兑换油、米、盐[1]", "村民在银行的积分可兑换油、米、盐等生活物资"),
    _record("知识库中没有找到相关说法。", None, abstained=True),
]


def test_faithfulness_counts_supported_statements_and_unparseable_verdicts(judge_server):
    url, prompts = judge_server
    result = faithfulness(RECORDS, Settings(llm={"base_url": url, "model": "judge"}))
    assert result == {"status": "ok", "model": "judge", "faithfulness": 0.5, "judged": 1, "errors": 1}
    assert len(prompts) == 2  # the refusal is not judged
    assert "社区居民参与率从不足30%提升至70%以上" in prompts[0] and "纠纷减半" in prompts[0]


def test_without_an_llm_judging_is_skipped_with_a_reason():
    result = faithfulness(RECORDS, Settings())
    assert result["status"] == "skipped" and "JICENG_LLM_BASE_URL" in result["reason"]
