"""``jiceng ask``, ``jiceng search`` and ``jiceng serve``: parse, call the service, print."""

from __future__ import annotations

import json

import typer
from rich.console import Console
from rich.markup import escape

from jiceng.settings import get_settings

console = Console()


def register_cli(app: typer.Typer) -> None:
    app.command("ask", help="提问，给出带引文的答案 / Ask a question; get a cited answer (or an abstention).")(ask)
    app.command("search", help="检索相关段落 / Search passages (hybrid BM25 + dense).")(search)
    app.command("serve", help="启动问答服务与页面 / Serve the API, the ask page and the case library.")(serve)


def ask(
    question: str = typer.Argument(..., help="问题 / the question"),
    as_json: bool = typer.Option(False, "--json", help="输出与 API 相同的 JSON / print the API's JSON object."),
    top_k: int = typer.Option(5, "--top-k", "-k", help="检索段落数 / passages to retrieve (1-50)."),
    mode: str = typer.Option(None, "--mode", help="extractive 或 llm / extractive or llm (default: settings)."),
) -> None:
    from jiceng.qa.schemas import AskResponse
    from jiceng.qa.service import QAService

    answer = QAService(get_settings()).ask(question, top_k=top_k, mode=mode)
    if as_json:
        print(json.dumps(AskResponse.of(answer).model_dump(), ensure_ascii=False, indent=2))
        return
    style = "yellow" if answer.abstained else "bold"
    console.print(f"[{style}]{escape(answer.answer)}[/]\n")
    for c in answer.citations:
        where = " › ".join(x for x in (c.title, c.section) if x)
        console.print(f"[cyan][{c.n}][/] {escape(where)}  [dim]{escape(c.url)}[/]")
        console.print(f"    「{escape(c.quote)}」")
    console.print(f"[dim]{answer.timings_ms.get('total', 0):.0f} ms[/]")


def search(
    query: str = typer.Argument(..., help="查询 / the query"),
    as_json: bool = typer.Option(False, "--json", help="输出与 API 相同的 JSON / print the API's JSON object."),
    k: int = typer.Option(10, "-k", help="结果数 / results (1-50)."),
) -> None:
    from jiceng.qa.schemas import SearchResponse
    from jiceng.qa.service import QAService

    passages = QAService(get_settings()).search(query, k=k)
    if as_json:
        print(json.dumps(SearchResponse.of(passages).model_dump(), ensure_ascii=False, indent=2))
        return
    for p in passages:
        where = " › ".join(x for x in (p.title, p.section) if x)
        console.print(f"[cyan]{p.rank:>2}.[/] {escape(where)}  [dim]{p.score:.4f} {escape(p.url)}[/]")
        console.print(f"    {escape(p.text[:160])}{'…' if len(p.text) > 160 else ''}")


def serve(
    host: str = typer.Option(None, "--host", help="监听地址 / bind address (default: settings.server.host)."),
    port: int = typer.Option(None, "--port", help="端口 / port (default: settings.server.port)."),
    workers: int = typer.Option(None, "--workers", help="进程数 / worker processes (default: settings)."),
) -> None:
    import uvicorn

    from jiceng.site.cli import ensure_library

    settings = get_settings()
    ensure_library(settings)  # once, before any worker starts: /library/ is there and current
    host = host or settings.server.host
    port = port or settings.server.port
    workers = workers or settings.server.workers
    console.print(f"问答页面 / ask page: http://{host}:{port}/   API: http://{host}:{port}/docs")
    if workers > 1:
        # Several processes need an import string; each worker builds its app from JICENG_* settings.
        uvicorn.run("jiceng.qa.api:create_app", factory=True, host=host, port=port, workers=workers)
    else:
        from jiceng.qa.api import create_app

        uvicorn.run(create_app(settings), host=host, port=port)
