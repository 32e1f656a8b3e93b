#!/usr/bin/env bash
# Regenerate the dependency diagram and table of docs/ARCHITECTURE.md from the code.
#   scripts/architecture.sh           (or `make architecture`); rerun after an app lands.
# Needs the dev requirements (grimp comes with import-linter) and graphviz's `dot` for the SVG
# (Debian: apt-get install graphviz). Without `dot` it still writes the .dot and the table.
set -euo pipefail
cd "$(dirname "$0")/.."
.venv/bin/python scripts/architecture.py
if command -v dot >/dev/null 2>&1; then
  dot -Tsvg docs/architecture.dot -o docs/architecture.svg
  echo "wrote docs/architecture.svg"
else
  echo "graphviz 'dot' not found: docs/architecture.svg not redrawn (apt-get install graphviz)" >&2
fi
.venv/bin/lint-imports
