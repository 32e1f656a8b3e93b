"""Content negotiation with a short path for the API's one renderer (bench/RESULTS.md, "Request path").

Every API view renders JSON only. For a request that asks for exactly that, or for anything
(``Accept`` absent, ``*/*`` or the renderer's own media type) and carries no query string (so no
``?format=``), DRF's negotiation parses the Accept header, the query string and each renderer's
media type to arrive at ``(renderer, renderer.media_type)``; this class returns that at once. Every
other request (another Accept, parameters, several renderers as on the schema views, a format
suffix) goes through DRF's own code, so a 406 is still a 406.
"""
from rest_framework.negotiation import DefaultContentNegotiation


class JsonContentNegotiation(DefaultContentNegotiation):
    def select_renderer(self, request, renderers, format_suffix=None):
        if len(renderers) == 1 and format_suffix is None and not request.META.get("QUERY_STRING"):
            renderer = renderers[0]
            accept = request.META.get("HTTP_ACCEPT", "*/*")
            if accept == "*/*" or accept == renderer.media_type:
                return renderer, renderer.media_type
        return super().select_renderer(request, renderers, format_suffix)
