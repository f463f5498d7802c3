# Quick start: `make run` (install, seed the demo once, serve; `make run PORT=8080` elsewhere) and `make test`.
PYTHON ?= python3
PORT ?= 8000
VENV := .venv
BIN := $(VENV)/bin
STAMP := $(VENV)/.installed
SYSTEM_PACKAGES := chromium-headless-shell chromium firefox-esr fonts-noto-core fonts-noto-cjk fonts-noto-color-emoji poppler-utils

.PHONY: run test install system-deps bench schema clean

# The links seed-demo prints, the e-mails and the credentials name the port served on, unless
# CERTIFY_PUBLIC_URL says otherwise.
run: install system-deps
	CERTIFY_PUBLIC_URL=$${CERTIFY_PUBLIC_URL:-http://127.0.0.1:$(PORT)} $(BIN)/certify seed-demo
	CERTIFY_PUBLIC_URL=$${CERTIFY_PUBLIC_URL:-http://127.0.0.1:$(PORT)} $(BIN)/certify serve --port $(PORT)

# Two test processes (the machine has two cores), then the fault tests alone: their deadlines are the subject.
test: install system-deps
	$(BIN)/pytest -n 2 --dist loadscope -m "not serial"
	$(BIN)/pytest -m serial

install: $(STAMP)

$(STAMP): pyproject.toml
	test -x $(BIN)/python || $(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install --quiet --upgrade pip
	$(BIN)/python -m pip install --quiet -e ".[test]"
	touch $(STAMP)

# Chromium (the headless shell, which the renderer prefers, and the full
# browser as a fallback) and the Noto fonts render certificates in any script; poppler-utils
# extracts PDF text in the tests. Installed with apt when missing (needs root).
system-deps:
	@missing=""; for p in $(SYSTEM_PACKAGES); do dpkg -s $$p >/dev/null 2>&1 || missing="$$missing $$p"; done; \
	if [ -n "$$missing" ]; then \
		echo "installing:$$missing"; \
		if [ "$$(id -u)" = 0 ]; then SUDO=""; else SUDO="sudo"; fi; \
		$$SUDO apt-get update -qq && DEBIAN_FRONTEND=noninteractive $$SUDO apt-get install -y -qq $$missing >/dev/null; \
	fi

# Every benchmark, then BENCHMARKS.md (bench/run_all.py); PostgreSQL and Redis variants when
# CERTIFY_BENCH_POSTGRES_URL / CERTIFY_BENCH_REDIS_URL are set.
bench: install system-deps
	$(BIN)/python bench/run_all.py

schema: install
	$(BIN)/certify export-schema > schema.graphql

clean:
	rm -rf $(VENV) data .pytest_cache
