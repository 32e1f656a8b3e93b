"""The API's JSON renderer: the bytes DRF's ``JSONRenderer`` writes, encoded by orjson.

DRF encodes with the standard library's ``json.dumps`` and a ``JSONEncoder`` subclass; on a page
of 50 customers that was a twentieth of the request (bench/RESULTS.md, "Request path, seventh
pass"). orjson writes the same document for everything the API renders: compact separators,
UTF-8 (``UNICODE_JSON``), keys in order, UUIDs as their canonical text, ``str`` and ``int``
subclasses (``ErrorDetail``, ``TextChoices``) as their values. What the two would write
differently is left to DRF's own path:

- dates and times are handed to DRF's encoder (``OPT_PASSTHROUGH_DATETIME``), which writes UTC
  as ``Z``; so is anything orjson does not know (``Decimal``, lazy strings, querysets);
- whatever orjson refuses and ``json`` accepts (a key that is not a string, an integer beyond
  64 bits) is rendered by DRF, as is a request for indented output;
- U+2028 and U+2029 are escaped afterwards, as DRF escapes them.

Two spellings differ and are kept: a float of 1e16 or more, or below 1e-4, is written ``1e16``
where ``json`` writes ``1e+16`` (the same number; no amount is a float, API.md §0), and a NaN or
infinity, which DRF refuses, would be ``null``; no field of the API is a float.
``bnpl/tests/test_renderers.py`` holds the bytes equal to DRF's.
"""
import orjson
from rest_framework.renderers import JSONRenderer as DrfJSONRenderer
from rest_framework.utils.encoders import JSONEncoder

_OPTIONS = orjson.OPT_PASSTHROUGH_DATETIME
_DRF_DEFAULT = JSONEncoder().default  # keeps no state: one for every render
_LINE_SEPARATOR, _PARAGRAPH_SEPARATOR = "\u2028".encode(), "\u2029".encode()


class JSONRenderer(DrfJSONRenderer):
    def render(self, data, accepted_media_type=None, renderer_context=None):
        if (data is None or self.encoder_class is not JSONEncoder or not self.compact or self.ensure_ascii
                or not self.strict
                or (renderer_context or {}).get("indent") is not None
                or (accepted_media_type and ";" in accepted_media_type)):  # e.g. "; indent=4"
            return super().render(data, accepted_media_type, renderer_context)
        try:
            body = orjson.dumps(data, default=_DRF_DEFAULT, option=_OPTIONS)
        except orjson.JSONEncodeError:
            return super().render(data, accepted_media_type, renderer_context)
        if _LINE_SEPARATOR in body or _PARAGRAPH_SEPARATOR in body:
            body = body.replace(_LINE_SEPARATOR, b"\\u2028").replace(_PARAGRAPH_SEPARATOR, b"\\u2029")
        return body
