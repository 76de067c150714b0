"""Cloud failures as the gateway sees them: detail for logs, a public reason for clients."""

from __future__ import annotations

import errno

import aiohttp


class CloudError(RuntimeError):
    """The cloud could not be reached or answered badly; the caller degrades to the device.

    ``str(exc)`` is the detail for logs (may name addresses and quote cloud bodies);
    ``exc.public`` is a short reason free of both, for clients.
    """

    def __init__(self, detail: str, public: str = "cloud call failed"):
        super().__init__(detail)
        self.public = public


class CloudRefused(CloudError):
    """The cloud answered 4xx: it is up, but will not do this request."""

    def __init__(self, status: int, body: str):
        super().__init__(f"cloud refused the request: HTTP {status}: {body}",
                         f"cloud refused the request (HTTP {status})")
        self.status = status


def public_reason(exc: BaseException) -> str:
    """What a client may be told about a failed cloud call: the kind of failure, no addresses or bodies."""
    if isinstance(exc, CloudError):
        return exc.public
    if isinstance(exc, aiohttp.ClientConnectorError):
        os_error = getattr(exc, "os_error", None)
        refused = getattr(os_error, "errno", None) == errno.ECONNREFUSED
        if isinstance(os_error, ConnectionRefusedError) or refused:
            return "cloud unreachable (connection refused)"
        return "cloud unreachable (connection failed)"
    if isinstance(exc, aiohttp.ServerDisconnectedError):
        return "cloud closed the connection"
    if isinstance(exc, aiohttp.ClientPayloadError):
        return "cloud answer broke off"
    if isinstance(exc, TimeoutError):  # aiohttp's connect and read timeouts are TimeoutErrors too
        return "cloud timed out"
    if isinstance(exc, aiohttp.ClientResponseError):
        return f"cloud answered HTTP {exc.status}"
    if isinstance(exc, (ValueError, KeyError, TypeError, IndexError)):
        return "cloud answered with invalid data"
    if isinstance(exc, (aiohttp.ClientError, OSError)):
        return "cloud connection failed"
    return "cloud call failed"
