.PHONY: run test lint docker-smoke bench-sweep bench-api

run:  ## install, migrate and start the service (embedded default without DATABASE_URL/REDIS_URL)
	scripts/run.sh

test:  ## the whole suite against the real PostgreSQL and Redis on 127.0.0.1
	scripts/test.sh

lint:
	.venv/bin/ruff check .

docker-smoke:  ## build the image, run docker-compose.yml, drive a journey through nginx, tear down (root; docs/DEPLOY.md)
	scripts/docker-smoke.sh
