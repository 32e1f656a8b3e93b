.PHONY: run test lint ruff typecheck imports architecture docker-smoke bench-sweep bench-api bench-race bench-fuzz

BIN := .venv/bin
# Every app of this repository (a top-level package with an apps.py), so a new app is checked at once.
APPS := $(patsubst %/apps.py,%,$(wildcard */apps.py))
# Extra arguments for a benchmark, e.g. `make bench-sweep ARGS="--installments 1000000 --runs 3"`.
ARGS ?=

run:  ## install, migrate and start the service (embedded default without DATABASE_URL/REDIS_URL)
	scripts/run.sh

test:  ## the whole suite against the real PostgreSQL and Redis on 127.0.0.1
	scripts/test.sh

lint: ruff imports typecheck  ## everything the CI workflow checks besides the tests

ruff:
	$(BIN)/ruff check .

imports:  ## the apps' direction of dependency (import-linter contracts in pyproject.toml)
	$(BIN)/lint-imports

typecheck:  ## mypy with the Django and DRF plugins (about a minute cold, seconds with its cache)
	$(BIN)/mypy $(APPS) bench scripts

docker-smoke:  ## build the image, run docker-compose.yml, drive a journey through nginx, tear down (root; docs/DEPLOY.md)
	scripts/docker-smoke.sh

architecture:  ## redraw the dependency diagram and table of docs/ARCHITECTURE.md from the code
	scripts/architecture.sh

# Benchmarks: by hand, not in CI; each prints its numbers and appends them to bench/RESULTS.md with --write.
bench-sweep:  ## the overdue sweep against bare set-based SQL (scratch database)
	$(BIN)/python bench/sweep.py $(or $(ARGS),--installments 100000 --runs 5)

bench-api:  ## API throughput and latency under gunicorn, each endpoint against a floor (scratch database)
	$(BIN)/python bench/api.py $(or $(ARGS),--users 100000 --installments 1000000 --duration 10)

bench-race:  ## the race suite's scenario, longer and wider
	$(BIN)/python bench/race.py $(or $(ARGS),--seconds 60 --threads 16)

bench-fuzz:  ## schemathesis over every operation and role, wider than CI
	$(BIN)/python bench/fuzz.py $(or $(ARGS),--examples 500)
