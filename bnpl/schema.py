"""drf-yasg: the Bearer scheme and the problem+json error bodies on every operation."""
from drf_yasg import openapi
from drf_yasg.inspectors import SwaggerAutoSchema

PROBLEM = openapi.Schema(
    title="Problem",
    type=openapi.TYPE_OBJECT,
    description="RFC 9457 problem details (`application/problem+json`).",
    required=["type", "title", "status", "detail", "code"],
    properties={
        "type": openapi.Schema(type=openapi.TYPE_STRING, format="uri"),
        "title": openapi.Schema(type=openapi.TYPE_STRING),
        "status": openapi.Schema(type=openapi.TYPE_INTEGER),
        "detail": openapi.Schema(type=openapi.TYPE_STRING),
        "code": openapi.Schema(type=openapi.TYPE_STRING),
        "errors": openapi.Schema(
            type=openapi.TYPE_ARRAY,
            items=openapi.Schema(
                type=openapi.TYPE_OBJECT,
                required=["attr", "code", "detail"],
                properties={k: openapi.Schema(type=openapi.TYPE_STRING) for k in ("attr", "code", "detail")},
            ),
        ),
    },
)

IDEMPOTENCY_KEY = openapi.Parameter(
    "Idempotency-Key", openapi.IN_HEADER, type=openapi.TYPE_STRING, required=False,
    description="1-255 printable ASCII characters (a UUID is recommended). Same key + same request: "
                "the first response is replayed with `Idempotent-Replayed: true`; different request: "
                "422 `idempotency_key_reused`; first still running: 409 `idempotency_key_in_use`.",
)


def problem_response(description: str, schema=PROBLEM) -> openapi.Response:
    return openapi.Response(description, schema)


_COMMON = {
    "401": "`not_authenticated` / `authentication_failed`: missing or bad API key.",
    "403": "`permission_denied`: the key's role may not do this.",
    "429": "`throttled`: over the per-key rate limit; see `Retry-After`.",
}
_WRITE = {"400": "`validation_error` (see `errors`) or `parse_error`.",
          "413": "`request_too_large`: the body is above the upload limit (1 MiB by default).",
          "415": "`unsupported_media_type`: send `application/json`."}
_BY_METHOD = {"post": _WRITE, "patch": _WRITE}


class ProblemAutoSchema(SwaggerAutoSchema):
    """Adds the error responses every endpoint can give, and the Idempotency-Key header on POST."""

    def problem_schema(self) -> openapi.SchemaRef:
        """``#/definitions/Problem``: one definition, referenced by every error response."""
        definitions = self.components.with_scope(openapi.SCHEMA_DEFINITIONS)
        definitions.setdefault("Problem", lambda: PROBLEM)
        return openapi.SchemaRef(definitions, "Problem")

    def get_response_serializers(self):
        responses = super().get_response_serializers()
        if self.get_security() == []:  # public endpoints (health, webhook) document their own
            return responses
        problem = self.problem_schema()
        # A view's own error responses given as text (``409: "`duplicate_user`: ..."``) get the body too.
        for status_code, value in list(responses.items()):
            if str(status_code).isdigit() and int(status_code) >= 400 and isinstance(value, str):
                responses[status_code] = problem_response(value, problem)
        method = self.method.lower()
        extra = dict(_COMMON)
        extra.update(_BY_METHOD.get(method, {}))
        if "{" in self.path or method != "get":
            extra.setdefault("404", "`not_found`: no such object within the caller's reach.")
        for status_code, description in extra.items():
            responses.setdefault(status_code, problem_response(description, problem))
        return responses

    def add_manual_parameters(self, parameters):
        parameters = super().add_manual_parameters(parameters)
        if self.method.lower() == "post" and self.get_security() != [] and \
                not any(p.name == IDEMPOTENCY_KEY.name for p in parameters):
            parameters.append(IDEMPOTENCY_KEY)
        return parameters
