"""bnpl.negotiation.JsonContentNegotiation answers exactly as DRF's own negotiation."""
import pytest
from django.http import Http404
from rest_framework import exceptions
from rest_framework.negotiation import DefaultContentNegotiation
from rest_framework.renderers import JSONRenderer
from rest_framework.request import Request
from rest_framework.test import APIRequestFactory

from bnpl.negotiation import JsonContentNegotiation

ACCEPTS = [None, "*/*", "application/json", "application/json; indent=4", "application/*", "text/html",
           "application/problem+json", "", "text/html, */*;q=0.1", "application/xml"]


def _outcome(negotiation, accept, path, format_suffix):
    headers = {} if accept is None else {"HTTP_ACCEPT": accept}
    request = Request(APIRequestFactory().get(path, **headers))
    try:
        renderer, media_type = negotiation.select_renderer(request, [JSONRenderer()], format_suffix)
        return type(renderer), media_type
    except exceptions.NotAcceptable:
        return 406
    except Http404:  # an unknown ?format=
        return 404


@pytest.mark.parametrize("accept", ACCEPTS)
@pytest.mark.parametrize("path,format_suffix", [("/api/v1/users/", None), ("/api/v1/users/?format=json", None),
                                                ("/api/v1/users/?format=xml", None), ("/api/v1/users/", "json")])
def test_same_renderer_media_type_or_406_as_drf(accept, path, format_suffix):
    ours = _outcome(JsonContentNegotiation(), accept, path, format_suffix)
    assert ours == _outcome(DefaultContentNegotiation(), accept, path, format_suffix)
    if accept == "text/html" and "xml" not in path:
        assert ours == 406
