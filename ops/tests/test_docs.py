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


def _cited_tests(text: str) -> list[tuple[str, str]]:
    """``file.py::test`` and the ``::test`` that follow it in the same line, as (file, test)."""
    cited = []
    for line in text.splitlines():
        current = None
        for match in re.finditer(r"`([\w/]+\.py)?::(\w+)", line):
            current = match[1] or current
            if current is not None:
                cited.append((current, match[2]))
    return cited


def test_the_security_table_has_each_top_10_risk_once_and_every_cited_test_exists():
    """docs/SECURITY.md: one row per OWASP API risk, in order (merges once left API6 and API7 twice,
    one of them out of date), and each test a row names is a real test."""
    text = (ROOT / "docs" / "SECURITY.md").read_text()
    top10 = text.split("\n\n## ", 2)[0]
    risks = re.findall(r"^\| \*\*(API\d+) ", top10, re.MULTILINE)
    assert risks == [f"API{n}" for n in range(1, 11)]
    rows = {risk: line for line in top10.splitlines() for risk in re.findall(r"^\| \*\*(API\d+) ", line)}
    cited = _cited_tests(text)
    assert len(cited) > 50
    for path, name in cited:
        source = ROOT / path
        assert source.exists() and re.search(rf"def {name}\b", source.read_text()), f"{path}::{name}"
    # Issue 15's rows: resource consumption (nesting, cursors, sums, open plans) and business flows (consent, credit).
    assert "test_hostile_input.py::" in rows["API4"] and "test_consent.py::" in rows["API4"]
    assert "test_consent_races.py::" in rows["API6"] and "BNPL_MAX_OPEN_PLANS" in rows["API6"]
