"""Readers' feedback (``POST /feedback``, open; ``GET /feedback``, behind ``X-API-Key``) and what the ask page
needs to know about the server (``GET /config``: limits it shows before a request fails).

Posting needs no key (it is the readers' channel), so it is bounded: sizes by ``settings.feedback`` and
``answer.max_question_chars``, rate by ``settings.feedback.rate_per_minute`` per client IP. The limiter keeps
addresses in memory only, per server process (with N workers a client may get N times the rate).
"""

from __future__ import annotations

import threading
import time
from collections import OrderedDict, deque
from typing import Annotated

from fastapi import APIRouter, Depends, Query, Request
from pydantic import BaseModel
from starlette.concurrency import run_in_threadpool

from jiceng.errors import RateLimitedError
from jiceng.qa.feedback import (
    FeedbackCreated,
    FeedbackIn,
    FeedbackPage,
    add_feedback,
    check_feedback,
    list_feedback,
)
from jiceng.qa.deps import AppSettings, error_responses, require_api_key

WINDOW_S = 60.0
MAX_TRACKED_CLIENTS = 10_000  # the least recently seen are forgotten first, so memory stays bounded


class RateLimiter:
    """At most ``per_minute`` events per key in any sliding 60-second window."""

    def __init__(self, per_minute: int, clock=time.monotonic) -> None:
        self.per_minute = per_minute
        self.clock = clock
        self._events: OrderedDict[str, deque[float]] = OrderedDict()
        self._lock = threading.Lock()

    def allow(self, key: str) -> bool:
        now = self.clock()
        with self._lock:
            events = self._events.pop(key, None) or deque()
            while events and now - events[0] >= WINDOW_S:
                events.popleft()
            allowed = len(events) < self.per_minute
            if allowed:
                events.append(now)
            self._events[key] = events  # re-inserted: most recently seen last
            while len(self._events) > MAX_TRACKED_CLIENTS:
                self._events.popitem(last=False)
            return allowed


_limiter_lock = threading.Lock()


def _limiter(request: Request) -> RateLimiter:
    """The app's limiter, made on first use (one per app, so each test app starts afresh)."""
    with _limiter_lock:
        limiter = getattr(request.app.state, "feedback_limiter", None)
        if limiter is None:
            limiter = RateLimiter(request.app.state.settings.feedback.rate_per_minute)
            request.app.state.feedback_limiter = limiter
        return limiter


feedback_router = APIRouter(
    prefix="/feedback", tags=["反馈 / feedback"], responses=error_responses(400, 401, 403, 422, 429)
)
page_config_router = APIRouter(tags=["状态 / health"])


@feedback_router.post("", status_code=201, response_model=FeedbackCreated)
async def post_feedback(body: FeedbackIn, request: Request, settings: AppSettings) -> FeedbackCreated:
    """对答案点赞、点踩或纠错 / Rate an answer 👍 or 👎, optionally with a correction note and the answer's
    citations. No key needed; limited per client per minute (429 beyond). Nothing about the client is stored."""
    checked = check_feedback(body, settings)
    client = request.client.host if request.client else "unknown"
    if not _limiter(request).allow(client):
        per_minute = settings.feedback.rate_per_minute
        raise RateLimitedError(
            f"反馈太频繁：每分钟最多 {per_minute} 条，请稍后再试",
            f"too much feedback: at most {per_minute} per minute; try again shortly",
        )
    return FeedbackCreated(id=await run_in_threadpool(add_feedback, checked, settings))


@feedback_router.get("", response_model=FeedbackPage, dependencies=[Depends(require_api_key)])
def get_feedback(
    settings: AppSettings,
    limit: Annotated[int, Query(ge=1, le=500, description="条数 / entries per page")] = 50,
    # Bounded: SQLite's integers are 64-bit, and a larger offset was an OverflowError (a 500).
    offset: Annotated[int, Query(ge=0, le=2**31, description="跳过 / entries to skip")] = 0,
) -> FeedbackPage:
    """反馈列表，最新的在前 / Feedback entries, newest first. Needs ``X-API-Key``."""
    return list_feedback(settings, limit=limit, offset=offset)


class PageConfig(BaseModel):
    max_question_chars: int
    feedback_note_max_chars: int
    feedback_max_citations: int


@page_config_router.get("/config", response_model=PageConfig)
def page_config(settings: AppSettings) -> PageConfig:
    """页面需要的限制 / Limits the ask page shows before a request would fail (question length, note length)."""
    return PageConfig(
        max_question_chars=settings.answer.max_question_chars,
        feedback_note_max_chars=settings.feedback.note_max_chars,
        feedback_max_citations=settings.feedback.max_citations,
    )
