"""``?as_of=YYYY-MM-DD``: strict, ASCII, not after today."""
import re
from datetime import date

from drf_yasg import openapi

from bnpl import dates
from bnpl.errors import ValidationFailed

_ISO_DATE = re.compile(r"^[0-9]{4}-[0-9]{2}-[0-9]{2}$")


def as_of_param(request) -> date | None:
    raw = request.query_params.get("as_of")
    if raw is None:
        return None
    try:
        if not _ISO_DATE.match(raw):
            raise ValueError(raw)
        value = date.fromisoformat(raw)
    except ValueError:
        raise ValidationFailed("as_of", "Must be a date YYYY-MM-DD.", "invalid") from None
    if value > dates.business_today():
        raise ValidationFailed("as_of", "Must not be after today.", "future_date")
    return value


AS_OF_PARAMETER = openapi.Parameter(
    "as_of", openapi.IN_QUERY, type=openapi.TYPE_STRING, format="date",
    description="YYYY-MM-DD, not after today: the figures as they stood at the end of that business day, "
                "rebuilt from the journal.")
