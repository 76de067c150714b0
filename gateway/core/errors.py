"""What can go wrong with a request, in the core's own words; the API layer turns each into HTTP.

The core never knows about status codes (as text-generation-inference's ``InferError``):
``gateway.api.errors.ERRORS`` maps each kind to a status and an OpenAI error body, in one place.
``message`` is safe to show the client; ``param`` names the request field at fault.
"""

from __future__ import annotations


class TandemError(Exception):
    """A request the core will not serve; the client can act on ``message``."""

    code: str | None = None

    def __init__(self, message: str, param: str | None = None, code: str | None = None):
        super().__init__(message)
        self.message = message
        self.param = param
        if code is not None:
            self.code = code


class InvalidRequest(TandemError):
    """A field holds a value Tandem cannot serve (or a field it cannot honour at all)."""


class ModelNotFound(TandemError):
    """The ``model`` names neither a virtual model nor the device model."""

    code = "model_not_found"


class ContextTooLong(TandemError):
    """Prompt plus requested completion do not fit the device model's context window."""

    code = "context_length_exceeded"


class DeviceBusy(TandemError):
    """The device model's queue is full; retrying shortly will work."""

    code = "queue_full"
