"""A cursor-paginated list walked as a client walks it."""
from typing import Any

from rest_framework.test import APIClient


def walk_pages(api: APIClient, path: str, params: dict) -> list[Any]:
    """Every page's response from the first to the last by ``next``, then back to the first by
    ``previous`` (each asserted 200)."""
    responses = [api.get(path, params)]
    while True:
        assert responses[-1].status_code == 200, responses[-1].content
        following = responses[-1].json()["next"]
        if following is None:
            break
        responses.append(api.get(following))
    while (preceding := responses[-1].json()["previous"]) is not None:
        responses.append(api.get(preceding))
        assert responses[-1].status_code == 200, responses[-1].content
    return responses
