# The two commands of the README. Each does its own set-up (idempotent) first; test runs ruff, mypy, then pytest.
.PHONY: demo test setup lint

demo: setup
	.venv/bin/tiendo demo

test: setup
	.venv/bin/ruff check .
	.venv/bin/ruff format --check .
	.venv/bin/mypy
	.venv/bin/pytest

# Virtual environment, Kafka jars, and Debian's Prometheus and Alertmanager when missing.
setup:
	scripts/setup.sh --monitoring
