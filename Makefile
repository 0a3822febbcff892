# Two commands matter: `make run` (the whole system, offline, on SQLite) and `make test`.
# Everything else they need is installed on first use: uv into .tools/, then the
# locked dependencies into .venv/.

SHELL := /bin/bash
PYTHON ?= python3
UV_VERSION := 0.13.9
UV := .tools/bin/uv
RUN := $(UV) run --frozen --no-sync

# Development defaults for `make run`; any of them can be overridden from the environment.
# The channel plugins talk to the provider sandbox on :8082, never to a real provider.
SANDBOX := http://127.0.0.1:8082
comma := ,
export APP_ENV ?= development
export ORDERS_DATABASE_URL ?= sqlite://var/orders.sqlite3
export GATEWAY_DATABASE_URL ?= sqlite://var/gateway.sqlite3
export EMAIL_API_URL ?= $(SANDBOX)/dev/home-test/email-delivery-service
export EMAIL_API_TOKEN ?= dev-email-token
export SMS_API_URL ?= $(SANDBOX)/dev/home-test/sms-delivery-service
export SMS_API_TOKEN ?= dev-sms-token
export PUSH_API_URL ?= $(SANDBOX)/push
# `make run` hands one set of development tokens to every process it starts: the gateway's caller
# token is also the one the orders service presents, so setting GATEWAY_TOKEN (or ADMIN_TOKEN)
# alone just works. Only `make run` gets them; tests set their own.
RUN_GATEWAY_TOKEN = $(or $(GATEWAY_TOKEN),dev-gateway-token)
RUN_TOKENS = GATEWAY_TOKEN='$(RUN_GATEWAY_TOKEN)' \
	ORDERS_GATEWAY_TOKEN='$(or $(ORDERS_GATEWAY_TOKEN),$(firstword $(subst $(comma), ,$(RUN_GATEWAY_TOKEN))))' \
	ADMIN_TOKEN='$(or $(ADMIN_TOKEN),dev-admin-token)' SUPPORT_TOKEN='$(or $(SUPPORT_TOKEN),dev-support-token)'
# Delivery receipts and inbound SMS, for `make run` only (test processes choose their own): the
# sandbox signs them with its development keys, the gateway checks them with the same ones.
run: export SANDBOX_RECEIPTS_URL ?= http://127.0.0.1:8081/receipts
run: export SANDBOX_INBOUND_URL ?= http://127.0.0.1:8081/inbound
run: export EMAIL_RECEIPT_SECRET ?= dev-email-receipt-secret
run: export SMS_RECEIPT_SECRET ?= dev-sms-receipt-secret
run: export PUSH_RECEIPT_SECRET ?= dev-push-receipt-secret

.PHONY: help setup run test check test-postgres lint format migrations query-count bench profile screenshots clean

help:
	@echo "make run            start the system on 127.0.0.1 (orders API on :8080)"
	@echo "make test           lint and run every test (SQLite; TEST_DATABASE=postgres for PostgreSQL)"
	@echo "make check          lint and run every test but the slow ones (end-to-end, faults, plugin install)"
	@echo "make test-postgres  the same suite on PostgreSQL at 127.0.0.1:5432"
	@echo "make migrations     write a migration for model changes"
	@echo "make bench          run the benchmarks; tables go to benchmarks/results/"
	@echo "make profile TARGET=orders_write  a flame graph of the service under that load, in benchmarks/results/"
	@echo "                    (TARGET=gateway_delivery: one gateway delivering a backlog at 0 ms)"
	@echo "make screenshots    write a PNG of each console page to docs/screenshots/"

$(UV):
	$(PYTHON) -m venv .tools
	.tools/bin/pip install --quiet --disable-pip-version-check "uv==$(UV_VERSION)"

.venv/.synced: $(UV) uv.lock pyproject.toml */pyproject.toml
	$(UV) sync --frozen --all-packages
	@touch $@

setup: .venv/.synced

run: setup
	$(RUN) orders-service migrate
	$(RUN) orders-service seed
	$(RUN) notification-gateway migrate
	@echo
	@echo "  orders API        http://127.0.0.1:8080/docs   token: $(or $(ADMIN_TOKEN),dev-admin-token)"
	@echo "  gateway API       http://127.0.0.1:8081/docs   token: $(firstword $(subst $(comma), ,$(RUN_GATEWAY_TOKEN)))"
	@echo "  provider sandbox  http://127.0.0.1:8082/_sandbox/messages"
	@echo "  console           http://127.0.0.1:8080/console/"
	@echo "                    admin@example.com / dev-password    support@example.com / dev-password"
	@echo "  Ctrl-C stops all three."
	@echo
	@$(RUN_TOKENS) $(RUN) honcho start -f Procfile.dev

lint: setup
	$(RUN) ruff check .
	$(RUN) ruff format --check .

test: lint
	$(RUN) pytest

check: lint
	$(RUN) pytest -m "not slow"

test-postgres: setup
	TEST_DATABASE=postgres $(RUN) pytest

format: setup
	$(RUN) ruff check --fix .
	$(RUN) ruff format .

migrations: setup
	$(RUN) tortoise -c orders_service.db.AUTHORING makemigrations
	$(RUN) tortoise -c notification_gateway.db.AUTHORING makemigrations

bench: setup
	@command -v wrk >/dev/null || (apt-get update -qq && apt-get install -y -qq wrk)
	BENCH_DATABASE=postgres $(RUN) python -m benchmarks orders_write orders_ceiling orders_vs_inline users_read users_search gateway_throughput end_to_end_latency purge_under_load priority_lanes batch_intake receipts_throughput
	$(RUN) python -m benchmarks

# py-spy samples the service from outside while the benchmark's load runs; BENCH_DATABASE=postgres
# profiles on PostgreSQL, PROFILE_FORMAT=raw writes collapsed stacks instead of an SVG.
TARGET ?= orders_write
profile: setup
	@command -v wrk >/dev/null || (apt-get update -qq && apt-get install -y -qq wrk)
	$(RUN) python -m benchmarks.profile $(TARGET)

screenshots: setup
	@command -v chromium >/dev/null || (apt-get update -qq && apt-get install -y -qq chromium)
	$(RUN) python -m tests.console.screenshots

query-count: setup
	$(RUN) python -m benchmarks.query_count

clean:
	rm -rf .venv .tools var .pytest_cache .ruff_cache .hypothesis
