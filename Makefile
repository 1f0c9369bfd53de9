.DEFAULT_GOAL := help

help: ## list the targets
	@grep -E '^[a-z-]+:.*## ' $(MAKEFILE_LIST) | awk -F':.*## ' '{printf "  %-10s %s\n", $$1, $$2}'

install: ## install Memo and its tools with uv
	uv sync --frozen

lint: ## ruff, mypy strict and the import contract
	uv run ruff check .
	uv run mypy
	uv run lint-imports

test: ## the whole suite (PostgreSQL and Redis parts run when MEMO_TEST_POSTGRES_URL / MEMO_TEST_REDIS_URL are set)
	uv run pytest

cov: ## the whole suite with coverage
	uv run pytest --cov --cov-report=term-missing:skip-covered

serve: ## Memo on the embedded default
	uv run memo serve

migrate: ## bring the database schema up to date
	uv run memo db upgrade

bench: ## signed create/list figures on the embedded default and the test profile
	uv run python bench/run.py

image: ## build the container image (needs podman or docker)
	podman build -f Containerfile -t memo:latest .

.PHONY: help install lint test cov serve migrate bench image
