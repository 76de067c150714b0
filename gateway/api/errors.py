"""Errors in OpenAI's shape, ``{"error": {"message", "type", "param", "code"}}``, from one table.

``ERRORS`` maps each domain error of the core to its HTTP status and OpenAI error type;
``ApiError`` is for what only the HTTP layer knows (authentication, body size, routes,
shutting down, an unparsable body). ``error_parts`` is the one place an exception becomes
status, body and headers — for a JSON response, and for the SSE error event once a stream
has begun.
"""

from __future__ import annotations

from aiohttp import web

from device_runtime.worker import QueueFull
from gateway.api.responses import ErrorBody, error_body
from gateway.core.errors import ContextTooLong, DeviceBusy, InvalidRequest, ModelNotFound, TandemError


class ApiError(Exception):
    """An error the HTTP layer itself raises, status and all."""

    def __init__(self, status: int, message: str, type_: str = "invalid_request_error",
                 param: str | None = None, code: str | None = None, headers: dict[str, str] | None = None):
        super().__init__(message)
        self.status, self.message, self.type, self.param, self.code = status, message, type_, param, code
        self.headers = headers or {}


def bad_request(message: str, param: str | None = None, code: str | None = None) -> ApiError:
    return ApiError(400, message, "invalid_request_error", param, code)


def http_error(exc: web.HTTPException, method: str, path: str) -> ApiError | None:
    """aiohttp's own refusals (body size, routing) in OpenAI's words; None for any other HTTP exception."""
    if isinstance(exc, web.HTTPRequestEntityTooLarge):
        return ApiError(413, f"Request body too large: {exc.text}", code="request_too_large")
    if isinstance(exc, web.HTTPNotFound):
        return ApiError(404, f"No route for {method} {path}", code="not_found")
    if isinstance(exc, web.HTTPMethodNotAllowed):
        return ApiError(405, f"Method {method} not allowed on {path}", code="method_not_allowed")
    return None


# domain error -> (HTTP status, OpenAI error type, extra headers)
ERRORS: dict[type[TandemError], tuple[int, str, dict[str, str]]] = {
    InvalidRequest: (400, "invalid_request_error", {}),
    ContextTooLong: (400, "invalid_request_error", {}),
    ModelNotFound: (404, "invalid_request_error", {}),
    DeviceBusy: (429, "rate_limit_error", {"Retry-After": "1"}),
}

INTERNAL: tuple[int, ErrorBody, dict[str, str]] = (
    500, error_body("Internal server error", "server_error", None, "internal_error"), {})


def error_parts(exc: BaseException) -> tuple[int, ErrorBody, dict[str, str]]:
    """(status, OpenAI error body, headers) for any exception; unknown ones are a bare 500 (log them)."""
    if isinstance(exc, QueueFull):  # the device runtime's own word for a full queue
        exc = DeviceBusy(f"The device model is busy ({exc}); retry shortly.")
    if isinstance(exc, ApiError):
        return exc.status, error_body(exc.message, exc.type, exc.param, exc.code), exc.headers
    if isinstance(exc, TandemError):
        for kind, (status, type_, headers) in ERRORS.items():
            if isinstance(exc, kind):
                return status, error_body(exc.message, type_, exc.param, exc.code), headers
    return INTERNAL
