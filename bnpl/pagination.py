"""Cursor pagination: ``?limit=`` (default 50, max 200), ``{"next", "previous", "results"}``."""
from rest_framework.pagination import CursorPagination


class CreatedCursorPagination(CursorPagination):
    page_size = 50
    page_size_query_param = "limit"
    max_page_size = 200
    # ``id`` breaks ties between rows created in the same microsecond.
    ordering = ("-created_at", "-id")
