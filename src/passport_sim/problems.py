"""RFC 7807 problem details, as Passport answers them, and the error types the simulator uses."""

from __future__ import annotations

from typing import Any

from starlette.responses import Response

from passport_sim.jsonio import dumps

_PREFIX = "io.passportlabs:error:"

VALIDATION_ERROR = "validation_error"
INVALID_REQUEST = "invalid_request"
UNSUPPORTED_GRANT_TYPE = "unsupported_grant_type"
INVALID_AUDIENCE = "invalid_audience"
INVALID_CLIENT = "invalid_client"
UNAUTHORIZED = "unauthorized"
OPERATOR_NOT_FOUND = "operator_not_found"
OPERATOR_NOT_AUTHORIZED = "operator_not_authorized"
ZONE_NOT_FOUND = "zone_not_found"
SESSION_NOT_FOUND = "session_not_found"
SESSION_STOPPED = "session_stopped"
PAYLOAD_TOO_LARGE = "payload_too_large"
NOT_FOUND = "not_found"
METHOD_NOT_ALLOWED = "method_not_allowed"
RATE_LIMITED = "rate_limited"
SERVER_ERROR = "server_error"
SERVICE_UNAVAILABLE = "service_unavailable"

_TITLES = {
    VALIDATION_ERROR: "Validation error",
    INVALID_REQUEST: "Invalid request",
    UNSUPPORTED_GRANT_TYPE: "Unsupported grant type",
    INVALID_AUDIENCE: "Invalid audience",
    INVALID_CLIENT: "Invalid client credentials",
    UNAUTHORIZED: "Unauthorized",
    OPERATOR_NOT_FOUND: "Operator not found",
    OPERATOR_NOT_AUTHORIZED: "Operator not authorized",
    ZONE_NOT_FOUND: "Zone not found",
    SESSION_NOT_FOUND: "Session not found",
    SESSION_STOPPED: "Session stopped",
    PAYLOAD_TOO_LARGE: "Payload too large",
    NOT_FOUND: "Not found",
    METHOD_NOT_ALLOWED: "Method not allowed",
    RATE_LIMITED: "Too many requests",
    SERVER_ERROR: "Internal server error",
    SERVICE_UNAVAILABLE: "Service unavailable",
}

PROBLEM_MEDIA_TYPE = "application/problem+json"


def problem(kind: str, detail: str, **additional: Any) -> dict[str, Any]:  # noqa: ANN401
    """Return a problem object of type ``io.passportlabs:error:<kind>``."""
    return {
        "type": _PREFIX + kind,
        "title": _TITLES.get(kind, kind.replace("_", " ").capitalize()),
        "detail": detail,
        "additional_details": additional,
    }


class ProblemError(Exception):
    """A request-level refusal that becomes a problem response with ``status``."""

    def __init__(self, status: int, kind: str, detail: str, **additional: Any) -> None:  # noqa: ANN401
        super().__init__(detail)
        self.status = status
        self.body = problem(kind, detail, **additional)


def problem_response(
    status: int, kind: str, detail: str, headers: dict[str, str] | None = None
) -> Response:
    """Return an ``application/problem+json`` response."""
    return Response(
        dumps(problem(kind, detail)), status, headers=headers, media_type=PROBLEM_MEDIA_TYPE
    )


def error_response(error: ProblemError, headers: dict[str, str] | None = None) -> Response:
    """Return the response for a :class:`ProblemError`."""
    return Response(dumps(error.body), error.status, headers=headers, media_type=PROBLEM_MEDIA_TYPE)
