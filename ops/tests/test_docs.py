"""The docs a user can open (issue 11): every link of the README resolves inside a clone, it says how
to install PostgreSQL and Redis, and the client guide covers what a client developer needs."""
import re
from pathlib import Path

from django.conf import settings

ROOT = Path(settings.BASE_DIR)


def _links(markdown: str) -> list[str]:
    return re.findall(r"\]\(([^)\s]+)\)", markdown)


def test_every_relative_link_of_the_readme_and_the_docs_exists_in_the_repository():
    for page in [ROOT / "README.md", *sorted((ROOT / "docs").glob("*.md"))]:
        for link in _links(page.read_text()):
            if link.startswith(("http://", "https://", "#", "mailto:")):
                continue
            target = (page.parent / link.split("#")[0]).resolve()
            assert target.is_relative_to(ROOT), f"{page.name} links outside the repository: {link}"
            assert target.exists(), f"{page.name}: {link} does not exist"


def test_the_readme_points_to_the_served_docs_and_the_client_guide():
    readme = (ROOT / "README.md").read_text()
    assert "../shared" not in readme
    assert "/redoc/" in readme and "(docs/api.md)" in readme
    assert "apt-get install -y postgresql redis-server" in readme
    assert "service postgresql start" in readme and "service redis-server start" in readme
    assert "docs/screenshots/health-" in readme  # the dashboard as it looks


def test_the_client_guide_covers_roles_errors_idempotency_and_webhook_signing():
    guide = (ROOT / "docs" / "api.md").read_text()
    for heading in ("## Authentication and roles", "## Errors", "## Idempotency", "## Resources",
                    "## The merchant webhook"):
        assert heading in guide, heading
    assert guide.count("curl ") >= 6
    for code in ("validation_error", "user_in_debt", "idempotency_key_reused", "invalid_signature", "throttled"):
        assert f"`{code}`" in guide, code
    assert "webhook-signature" in guide and "whsec_" in guide and "/redoc/" in guide
