"""The import contracts of pyproject.toml (import-linter) hold, and they cover every app.

The contracts are the apps' direction of dependency (docs/ARCHITECTURE.md). Running them here
makes a new upward import or import cycle fail the build, not only ``make lint``.
"""
import shutil
import subprocess
import sys
import tomllib
from pathlib import Path

from django.apps import apps

ROOT = Path(__file__).resolve().parents[2]
CONFIG = tomllib.loads((ROOT / "pyproject.toml").read_text())["tool"]["importlinter"]
CONTRACTS = {contract["id"]: contract for contract in CONFIG["contracts"]}


def _lint_imports() -> str:
    exe = Path(sys.executable).with_name("lint-imports")
    return str(exe) if exe.exists() else (shutil.which("lint-imports") or "lint-imports")


def _project_apps() -> set[str]:
    """The installed apps that are this repository's own top-level packages."""
    return {config.name for config in apps.get_app_configs() if Path(config.path).parent == ROOT}


def _layer_names(contract: dict) -> set[str]:
    names = set()
    for layer in contract["layers"]:
        for part in layer.replace("|", ":").split(":"):
            names.add(part.strip().strip("()"))
    return names


def test_the_import_contracts_are_kept():
    result = subprocess.run(  # noqa: S603 - our own venv's lint-imports, fixed arguments
        [_lint_imports(), "--no-cache"], cwd=ROOT, capture_output=True, text=True, timeout=120, check=False,
    )
    # Broken contracts, new cycles and stale PENDING ignore lines all exit non-zero.
    assert result.returncode == 0, result.stdout + result.stderr
    assert "0 broken" in result.stdout


def test_the_contracts_are_all_there():
    assert set(CONTRACTS) == {"platform", "layers", "acyclic"}
    assert CONTRACTS["platform"]["layers"][-1] == "bnpl"
    assert CONTRACTS["acyclic"]["ancestors"] == ["*"]


def test_every_app_is_analysed_and_has_a_layer():
    """An app that lands must be added to root_packages and hold a (non-optional) layer."""
    project_apps = _project_apps()
    assert {"bnpl", "users", "plans"} <= project_apps  # the check looks at the real apps
    assert project_apps <= set(CONFIG["root_packages"]), (
        f"add {sorted(project_apps - set(CONFIG['root_packages']))} to root_packages in pyproject.toml"
    )
    domain_apps = project_apps - {"bnpl"}
    assert domain_apps <= _layer_names(CONTRACTS["layers"])
    assert domain_apps <= _layer_names(CONTRACTS["platform"])
