"""The few error types the library raises; the CLI and API turn them into friendly messages in one place."""

from __future__ import annotations


class JicengError(Exception):
    """A failure a user can act on, described in Chinese and English.

    ``code`` is a stable machine-readable identifier (used by the HTTP API's error body).
    """

    code = "error"
    http_status = 400

    def __init__(self, message_zh: str, message_en: str, *, code: str | None = None) -> None:
        super().__init__(f"{message_zh} / {message_en}")
        self.message_zh = message_zh
        self.message_en = message_en
        if code:
            self.code = code

    @property
    def message(self) -> str:
        return f"{self.message_zh}（{self.message_en}）"


class InputError(JicengError):
    """Bad input from a user: question, file, filter, id."""

    code = "bad_input"
    http_status = 400


class NotFoundError(JicengError):
    code = "not_found"
    http_status = 404


class BusyError(JicengError):
    """A write (ingest, upload, delete) is already running: retry when it finishes."""

    code = "busy"
    http_status = 409


class RateLimitedError(JicengError):
    """Too many requests from one client in a short time: retry after a while."""

    code = "rate_limited"
    http_status = 429


class IndexMissingError(JicengError):
    """No index generation exists yet: run ``jiceng ingest`` first."""

    code = "index_missing"
    http_status = 503


class BackendUnavailableError(JicengError):
    """Chroma server (or LLM endpoint) cannot be reached."""

    code = "backend_unavailable"
    http_status = 503


class Refused(JicengError):
    """A write refused before anything changed, with the HTTP status that says why (413 too large, 415 a
    type not accepted, 409 a clash, 401/403 no key); the CLI shows it like any other error."""

    def __init__(self, status: int, code: str, message_zh: str, message_en: str) -> None:
        super().__init__(message_zh, message_en, code=code)
        self.http_status = status
