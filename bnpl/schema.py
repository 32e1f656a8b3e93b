"""drf-yasg: the Bearer scheme and the problem+json error bodies on every operation."""
from drf_yasg import openapi
from drf_yasg.inspectors import SwaggerAutoSchema
from rest_framework import serializers

from bnpl.errors import PROBLEM_CONTENT_TYPE

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


# Content negotiation, on every endpoint, public ones included.
_NOT_ACCEPTABLE = "`not_acceptable`: the `Accept` header rules out application/json."
_COMMON = {
    "401": "`not_authenticated` / `authentication_failed`: missing or bad API key.",
    "403": "`permission_denied`: the key's role may not do this.",
    "429": "`throttled`: over the per-key rate limit; see `Retry-After`.",
}
_WRITE = {"400": "`validation_error` (see `errors`) or `parse_error`.",
          "413": "`request_too_large`: the body is above the upload limit (1 MiB by default).",
          "415": "`unsupported_media_type`: send `application/json`."}
_BY_METHOD = {"post": _WRITE, "patch": _WRITE}
# With an Idempotency-Key (every authenticated POST).
_IDEMPOTENT = {"409": "`idempotency_key_in_use`: a request with this Idempotency-Key is still running.",
               "422": "`idempotency_key_reused`: this Idempotency-Key was used with another method, path or body."}
# Collections (cursor-paginated, filtered).
_LIST = {"400": "`validation_error`: a malformed filter value, a `limit` that is not a whole number from 1 "
                "(above 200 is capped), or a `cursor` this API did not issue (see `errors`)."}


class ProblemAutoSchema(SwaggerAutoSchema):
    """Adds the error responses every endpoint can give, and the Idempotency-Key header on POST."""

    def problem_schema(self) -> openapi.SchemaRef:
        """``#/definitions/Problem``: one definition, referenced by every error response."""
        definitions = self.components.with_scope(openapi.SCHEMA_DEFINITIONS)
        definitions.setdefault("Problem", lambda: PROBLEM)
        return openapi.SchemaRef(definitions, "Problem")

    def get_response_serializers(self):
        responses = super().get_response_serializers()
        problem = self.problem_schema()
        responses.setdefault("406", problem_response(_NOT_ACCEPTABLE, problem))
        if self.get_security() == []:  # public endpoints (health, webhook) document their own
            return responses
        # A view's own error responses given as text (``409: "`duplicate_user`: ..."``) get the body too.
        for status_code, value in list(responses.items()):
            if str(status_code).isdigit() and int(status_code) >= 400 and isinstance(value, str):
                responses[status_code] = problem_response(value, problem)
        method = self.method.lower()
        extra = dict(_COMMON)
        extra.update(_BY_METHOD.get(method, {}))
        if method == "post":
            extra.update(_IDEMPOTENT)
        if method == "get" and self.should_page():
            extra.update(_LIST)
        if "{" in self.path or method != "get":
            extra.setdefault("404", "`not_found`: no such object within the caller's reach.")
        for status_code, description in extra.items():
            responses.setdefault(status_code, problem_response(description, problem))
        return responses

    def get_produces(self):
        # Every 4xx/5xx body is application/problem+json (bnpl.errors). Swagger 2.0 has no media type per
        # response, only per operation, so each operation lists both.
        produces = super().get_produces()
        return produces if PROBLEM_CONTENT_TYPE in produces else [*produces, PROBLEM_CONTENT_TYPE]

    def add_manual_parameters(self, parameters):
        parameters = super().add_manual_parameters(parameters)
        if self.method.lower() == "post" and self.get_security() != [] and \
                not any(p.name == IDEMPOTENCY_KEY.name for p in parameters):
            parameters.append(IDEMPOTENCY_KEY)
        return parameters


def page_serializer(name: str, results: type[serializers.Serializer]) -> type[serializers.Serializer]:
    """The schema of a page of a cursor-paginated list (``{"next", "previous", "results"}``), for the
    lists whose responses are spelled out (drf-yasg wraps only the default response of a list
    view). ``name`` is the class name, which names the schema definition."""
    return type(name, (serializers.Serializer,), {
        "__doc__": f"A page of {results.__name__.removesuffix('Serializer')} (the cursor paginator's envelope).",
        "next": serializers.URLField(allow_null=True),
        "previous": serializers.URLField(allow_null=True),
        "results": results(many=True),
    })
