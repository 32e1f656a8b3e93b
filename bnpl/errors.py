"""One error shape: RFC 9457 problem details, produced here and nowhere else.

Services raise :class:`DomainError` subclasses, which carry a ``code`` and know nothing of
HTTP (HackSoft's ``ApplicationError``); :class:`ValidationFailed` is a refusal about one
field. The one handler, :func:`problem_exception_handler`, maps each code to its status
(:data:`STATUS_BY_CODE`) and translates DRF, Django and parse errors too; the ``handler*``
views do the same for plain Django. Every body is ``application/problem+json`` with the codes
of API.md §2.
"""
import logging
import math

from django import db
from django.core.exceptions import PermissionDenied as DjangoPermissionDenied
from django.core.exceptions import RequestDataTooBig
from django.http import Http404, JsonResponse
from rest_framework import exceptions, status
from rest_framework.response import Response
from rest_framework.views import set_rollback

logger = logging.getLogger(__name__)

PROBLEM_CONTENT_TYPE = "application/problem+json"


def problem_type(code: str) -> str:
    return f"urn:bnpl:problem:{code}"


class DomainError(Exception):
    """A business rule said no. ``code`` is part of the API contract; the HTTP status is the
    handler's business (:data:`STATUS_BY_CODE`, 409 for a code it does not list)."""

    code: str = "invalid_state"
    title: str = "Conflict"
    default_detail: str = "The request conflicts with the current state."

    def __init__(self, detail: str | None = None):
        self.detail = detail or self.default_detail
        super().__init__(self.detail)


class InvalidState(DomainError):
    code, title = "invalid_state", "Invalid state"
    default_detail = "This transition is not allowed in the current state."


class UserInDebt(DomainError):
    code, title = "user_in_debt", "User in debt"
    default_detail = "The user has overdue debt and cannot open a plan until it is repaid."


class DuplicateUser(DomainError):
    code, title = "duplicate_user", "Duplicate user"
    default_detail = "A user with this passport number already exists."


class RefundExceedsRefundable(DomainError):
    code, title = "refund_exceeds_refundable", "Refund exceeds refundable"
    default_detail = "The refund amount is above what is still refundable on the plan."


class DuplicateTransaction(DomainError):
    code, title = "duplicate_transaction", "Duplicate transaction"
    default_detail = "This transaction_id was already used with a different plan or amount."


class IdempotencyKeyInUse(DomainError):
    code, title = "idempotency_key_in_use", "Idempotency key in use"
    default_detail = "A request with this Idempotency-Key is still being processed; retry later."


class IdempotencyKeyReused(DomainError):
    code, title = "idempotency_key_reused", "Idempotency key reused"
    default_detail = "This Idempotency-Key was used with a different method, path or body."


class InvalidSignature(DomainError):
    code, title = "invalid_signature", "Invalid signature"
    default_detail = "The webhook signature is missing, invalid or outside the timestamp tolerance."


class CreditLimitExceeded(DomainError):
    code, title = "credit_limit_exceeded", "Credit limit exceeded"
    default_detail = "The plan's total is above the user's available credit."


class TooManyOpenPlans(DomainError):
    code, title = "too_many_open_plans", "Too many open plans"
    default_detail = "The user already has the most open (ACTIVE or PENDING_CONFIRMATION) plans allowed."


class ObjectNotFound(DomainError):
    """An object a service was asked to act on does not exist within the caller's reach (404)."""

    code, title = "not_found", "Not found"
    default_detail = "No such object."


# Seconds a client should wait after a 503 (the database unreachable) before retrying.
RETRY_AFTER_S = 10


class ServiceUnavailable(DomainError):
    code, title = "service_unavailable", "Service unavailable"
    default_detail = "A backing service is unavailable; nothing was changed. Retry later."


class RequestTooLarge(exceptions.APIException):
    """The body is above ``DATA_UPLOAD_MAX_MEMORY_SIZE`` (checked by the JSON parser and by Django)."""

    status_code = status.HTTP_413_REQUEST_ENTITY_TOO_LARGE
    default_code = "request_too_large"
    default_detail = "The request body is too large."


class ValidationFailed(DomainError):
    """A refusal about one field (``attr``), with the field's own ``reason`` code: a 400
    ``validation_error`` whose ``errors`` name it."""

    code, title = "validation_error", "Invalid request"
    default_detail = "One or more fields are invalid."

    def __init__(self, attr: str, detail: str, reason: str = "invalid"):
        self.attr, self.field_detail, self.reason = attr, detail, reason
        super().__init__(self.default_detail)

    @property
    def errors(self) -> list[dict[str, str]]:
        return [{"attr": self.attr, "code": self.reason, "detail": self.field_detail}]


# The one mapping of domain codes to HTTP statuses; any other domain code is a 409 conflict.
STATUS_BY_CODE: dict[str, int] = {
    ValidationFailed.code: status.HTTP_400_BAD_REQUEST,
    InvalidSignature.code: status.HTTP_401_UNAUTHORIZED,
    ObjectNotFound.code: status.HTTP_404_NOT_FOUND,
    IdempotencyKeyReused.code: status.HTTP_422_UNPROCESSABLE_ENTITY,
    ServiceUnavailable.code: status.HTTP_503_SERVICE_UNAVAILABLE,
}


def domain_status(error: DomainError) -> int:
    return STATUS_BY_CODE.get(error.code, status.HTTP_409_CONFLICT)


def domain_problem_response(error: DomainError) -> Response:
    """The problem+json answer to ``error``, for a view that returns a refusal instead of raising
    it (so that what the service committed with the refusal stays committed)."""
    status_code = domain_status(error)
    errors = error.errors if isinstance(error, ValidationFailed) else None
    # API.md §9 (v1.1): a 503 (the database unreachable) says when to retry.
    headers = {"Retry-After": str(RETRY_AFTER_S)} if status_code == status.HTTP_503_SERVICE_UNAVAILABLE else None
    return Response(problem(status_code, error.code, error.title, error.detail, errors), status=status_code,
                    headers=headers, content_type=PROBLEM_CONTENT_TYPE)


_DRF_CODES: dict[type[exceptions.APIException], tuple[str, str]] = {
    exceptions.ParseError: ("parse_error", "Malformed request body"),
    exceptions.AuthenticationFailed: ("authentication_failed", "Authentication failed"),
    exceptions.NotAuthenticated: ("not_authenticated", "Not authenticated"),
    exceptions.PermissionDenied: ("permission_denied", "Permission denied"),
    exceptions.NotFound: ("not_found", "Not found"),
    exceptions.MethodNotAllowed: ("method_not_allowed", "Method not allowed"),
    exceptions.NotAcceptable: ("not_acceptable", "Not acceptable"),
    exceptions.UnsupportedMediaType: ("unsupported_media_type", "Unsupported media type"),
    exceptions.Throttled: ("throttled", "Too many requests"),
    RequestTooLarge: ("request_too_large", "Request too large"),
}


def _flatten(detail, prefix: str = "") -> list[dict[str, str]]:
    """DRF's nested ``ValidationError.detail`` as a flat ``[{"attr", "code", "detail"}]`` list."""
    if isinstance(detail, dict):
        out: list[dict[str, str]] = []
        for key, value in detail.items():
            out += _flatten(value, f"{prefix}.{key}" if prefix else str(key))
        return out
    if isinstance(detail, list):
        out = []
        for index, value in enumerate(detail):
            nested = isinstance(value, (dict, list))
            out += _flatten(value, f"{prefix}.{index}" if nested else prefix)
        return out
    return [{"attr": prefix or "non_field_errors", "code": getattr(detail, "code", "invalid"), "detail": str(detail)}]


def problem(status_code: int, code: str, title: str, detail: str, errors: list | None = None) -> dict:
    body = {"type": problem_type(code), "title": title, "status": status_code, "detail": detail, "code": code}
    if errors is not None:
        body["errors"] = errors
    return body


def problem_exception_handler(exc: Exception, context: dict) -> Response | None:
    """DRF ``EXCEPTION_HANDLER``: every handled error becomes problem+json."""
    headers: dict[str, str] = {}
    if isinstance(exc, Http404):
        exc = exceptions.NotFound()
    elif isinstance(exc, (db.OperationalError, db.InterfaceError)):
        logger.warning("database unavailable: %s", type(exc).__name__)
        exc = ServiceUnavailable()
    elif isinstance(exc, DjangoPermissionDenied):
        exc = exceptions.PermissionDenied()
    elif isinstance(exc, RequestDataTooBig):  # ``request.body`` read by the idempotency fingerprint
        exc = RequestTooLarge()

    if isinstance(exc, DomainError):
        set_rollback()
        return domain_problem_response(exc)
    if isinstance(exc, exceptions.ValidationError):
        status_code: int = status.HTTP_400_BAD_REQUEST
        body = problem(status_code, "validation_error", "Invalid request",
                       "One or more fields are invalid.", _flatten(exc.detail))
    elif isinstance(exc, exceptions.APIException):
        code, title = next(((c, t) for cls, (c, t) in _DRF_CODES.items() if isinstance(exc, cls)),
                           (exc.default_code, "Error"))
        status_code = exc.status_code
        detail = exc.detail if isinstance(exc.detail, str) else str(exc.default_detail)
        body = problem(status_code, code, title, str(detail))
        # NotAuthenticated/AuthenticationFailed may carry ``auth_header``, Throttled carries ``wait``.
        auth_header = getattr(exc, "auth_header", None)
        if auth_header:
            headers["WWW-Authenticate"] = auth_header
        wait = getattr(exc, "wait", None)
        if wait is not None:
            headers["Retry-After"] = str(math.ceil(wait))
    else:
        return None  # a real bug: let Django's handler500 answer (and log it)

    if status_code == status.HTTP_503_SERVICE_UNAVAILABLE:
        headers.setdefault("Retry-After", str(RETRY_AFTER_S))  # API.md §9 (v1.1): a 503 says when to retry
    set_rollback()
    return Response(body, status=status_code, headers=headers, content_type=PROBLEM_CONTENT_TYPE)


def _django_problem(status_code: int, code: str, title: str, detail: str) -> JsonResponse:
    return JsonResponse(problem(status_code, code, title, detail), status=status_code,
                        content_type=PROBLEM_CONTENT_TYPE)


def handler400(request, exception=None):
    return _django_problem(400, "bad_request", "Bad request", "The request could not be understood.")


def handler403(request, exception=None):
    return _django_problem(403, "permission_denied", "Permission denied", "You may not do this.")


def handler404(request, exception=None):
    return _django_problem(404, "not_found", "Not found", "Nothing is found at this address.")


def handler500(request):
    return _django_problem(500, "server_error", "Internal server error",
                           "The server failed to handle the request. It has been logged.")
