"""Fuzzing: schemathesis generates requests from the live server's /openapi.json (valid and invalid, for every
operation, with and without the API key): no response may be a 5xx, and every 4xx carries the error body.
Uploads' parsers get mutated real PDF and Word files: each is loaded or refused with a reason, never a crash.
"""

from __future__ import annotations

import contextlib
import io
import itertools
import random
from collections import Counter
from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest
import schemathesis
from hypothesis import HealthCheck, given, settings
from hypothesis.errors import Unsatisfiable
from schemathesis import GenerationMode

from jiceng.errors import InputError
from jiceng.ingest.loaders import load_document
from jiceng.ingest.pipeline import ingest_paths
from jiceng.settings import Settings

from .test_security import KEY, copy_corpus, serve

pytestmark = pytest.mark.slow
EXAMPLES = 30  # per operation, data kind and key: bounded so the run stays well under two minutes


@pytest.fixture(scope="module")
def server_url(tmp_path_factory: pytest.TempPathFactory) -> Iterator[str]:
    root = tmp_path_factory.mktemp("fuzz")
    ingest_paths([copy_corpus(root)], Settings(data_dir=root / "data"), progress=False)
    with serve(root, JICENG_API_KEY=KEY) as server:
        yield server.url


# schemathesis' pytest plugin does not run under pytest 9 ('Function' has no '_nodeid'), so its strategies
# are driven with hypothesis directly: every operation, valid and invalid data, with and without the key.
FUZZ = settings(
    max_examples=EXAMPLES, deadline=None, derandomize=True, suppress_health_check=list(HealthCheck)
)


def _problem(response) -> str | None:
    if response.status_code >= 500:
        return f"{response.status_code}: {response.text[:300]}"
    if response.status_code >= 400 and response.status_code != 405:
        try:
            error = response.json()["error"]
            assert error["code"] and error["message"]
        except (ValueError, KeyError, TypeError, AssertionError):
            return f"{response.status_code} without an error body: {response.text[:300]}"
    return None


def _fuzz(
    operation, mode: GenerationMode, with_key: bool, statuses: Counter[int], problems: list[str]
) -> None:
    @FUZZ
    @given(case=operation.as_strategy(mode))
    def call(case) -> None:
        if with_key:  # the writes run for real: random ids are 404s, random uploads refused
            case.headers = {**(case.headers or {}), "X-API-Key": KEY}
        response = case.call(timeout=120)
        statuses[response.status_code] += 1
        if (problem := _problem(response)) is not None:
            problems.append(f"{operation.label} {mode.value} key={with_key}: {problem}")

    with contextlib.suppress(Unsatisfiable):  # no invalid input exists for an operation without inputs
        call()


def test_generated_requests_never_get_a_5xx(server_url: str) -> None:
    schema = schemathesis.openapi.from_url(f"{server_url}/openapi.json")
    statuses: Counter[int] = Counter()
    problems: list[str] = []
    for result in schema.get_all_operations():
        for mode, with_key in itertools.product(GenerationMode, (False, True)):
            _fuzz(result.ok(), mode, with_key, statuses, problems)
    print(f"\n{sum(statuses.values())} generated requests, statuses {dict(sorted(statuses.items()))}")
    assert not problems, "\n".join(problems[:10])
    assert sum(statuses.values()) >= 200 and any(s < 300 for s in statuses)


def _sample_pdf() -> bytes:
    from fpdf import FPDF

    pdf = FPDF()
    pdf.add_page()
    pdf.set_font("helvetica", size=12)
    pdf.cell(text="Community grid workers patrol every day.")
    return bytes(pdf.output())


def _sample_docx() -> bytes:
    import docx

    document = docx.Document()
    document.add_heading("网格化管理", 1)
    document.add_paragraph("网格员每天巡查社区。")
    buffer = io.BytesIO()
    document.save(buffer)
    return buffer.getvalue()


@pytest.mark.parametrize(("suffix", "make"), [(".pdf", _sample_pdf), (".docx", _sample_docx)])
def test_mutated_documents_load_or_fail_with_a_reason(tmp_path: Path, suffix: str, make) -> None:
    good, rng, loaded, refused = make(), random.Random(9), 0, 0
    for i in range(150):
        data = bytearray(good)
        if i % 3 == 0:
            data = data[: rng.randrange(8, len(data))]  # truncated
        else:
            for _ in range(rng.randrange(1, 20)):  # flipped bytes
                data[rng.randrange(len(data))] = rng.randrange(256)
        path = tmp_path / f"mutant{suffix}"
        path.write_bytes(bytes(data))
        try:
            load_document(path, Settings(data_dir=tmp_path / "data"))
            loaded += 1
        except InputError as exc:
            assert exc.message_zh and exc.message_en
            refused += 1
    assert refused > 0 and loaded + refused == 150


def test_fuzz_server_is_still_healthy(server_url: str) -> None:
    # Runs after the generated requests: the index is intact and answers.
    with httpx.Client(base_url=server_url, timeout=60) as client:
        assert client.get("/healthz").json()["documents"] >= 3
        assert client.post("/ask", json={"question": "功德银行积分可以兑换什么？"}).json()["citations"]
