"""The API's FastAPI dependencies and shared response declarations, defined once for every router.

Routes declare what they need by type: ``service: Service``, ``settings: AppSettings``; write routes sit
behind ``require_api_key``. ``error_responses`` documents the statuses a router can answer with.
"""

from __future__ import annotations

import hmac
from typing import Annotated, Any

from fastapi import Depends, Header, Request

from jiceng.errors import Refused
from jiceng.qa.schemas import ErrorBody
from jiceng.qa.service import QAService
from jiceng.settings import Settings


def error_responses(*statuses: int) -> dict[int | str, dict[str, Any]]:
    """OpenAPI ``responses`` for these statuses, each answered with ``{"error": {"code", "message"}}``."""
    return {status: {"model": ErrorBody} for status in statuses}


ERRORS = error_responses(400, 404, 422, 503)  # what any read route may answer
WRITE_ERRORS = error_responses(400, 401, 403, 404, 409, 411, 413, 415, 422, 503)


# Async so that FastAPI calls them on the event loop rather than sending each to a worker thread.
async def get_service(request: Request) -> QAService:
    """The app's one ``QAService`` (``create_app`` puts it on ``app.state``)."""
    return request.app.state.service


async def get_app_settings(request: Request) -> Settings:
    """The settings the app was created with (not re-read from the environment per request)."""
    return request.app.state.settings


Service = Annotated[QAService, Depends(get_service)]
AppSettings = Annotated[Settings, Depends(get_app_settings)]


def require_api_key(
    settings: AppSettings,
    x_api_key: Annotated[str | None, Header(alias="X-API-Key", description="settings.api_key")] = None,
) -> None:
    """403 while no key is configured (writes are off, not open); 401 for a missing or wrong key."""
    if not settings.api_key:
        raise Refused(
            403,
            "writes_disabled",
            "写入接口未启用：设置环境变量 JICENG_API_KEY（或 jiceng.toml 中的 api_key）并重启服务后可用",
            "write endpoints are disabled: set JICENG_API_KEY (or api_key in jiceng.toml) and restart the server",
        )
    # compare_digest: the time taken does not reveal how much of a guessed key was right.
    if x_api_key is None or not hmac.compare_digest(x_api_key.encode(), settings.api_key.encode()):
        raise Refused(401, "unauthorized", "缺少或错误的 X-API-Key 请求头", "missing or wrong X-API-Key header")
