# The project's commands. Each target brings the machine to a working state on its own
# (.venv from requirements.txt with the library installed editable, node_modules from the
# lockfile), skips that when nothing changed, then runs.

SHELL := /bin/bash
.SHELLFLAGS := -eu -o pipefail -c
.DEFAULT_GOAL := help

PYTHON ?= $(shell command -v python3.11 || command -v python3)
VENV := .venv
PY := $(VENV)/bin/python
STAMP_PY := $(VENV)/.installed
STAMP_NODE := node_modules/.installed
CHECKOV_VENV := .venv-checkov
STAMP_CHECKOV := $(CHECKOV_VENV)/.installed

# Node 22 from node_modules runs the cdktf CLI and the jsii runtime; the machine's own Node
# is used only to bootstrap it.
export PATH := $(CURDIR)/node_modules/.bin:$(CURDIR)/$(VENV)/bin:$(PATH)
export JSII_RUNTIME_PACKAGE_CACHE := enabled
export CHECKPOINT_DISABLE := 1
export CDKTF_DISABLE_PLUGIN_CACHE_ENV := 1
# A TF_CLI_CONFIG_FILE that names a missing file makes terraform warn on every call.
ifneq ($(TF_CLI_CONFIG_FILE),)
ifeq ($(wildcard $(TF_CLI_CONFIG_FILE)),)
unexport TF_CLI_CONFIG_FILE
endif
endif

.PHONY: help setup synth deploy diff test bench plan-report bootstrap e2e clean distclean apt-tools

help:
	@echo "make synth   install what is needed, synthesize every environment's stacks into cdktf.out/"
	@echo "make deploy ENV=<stack> [ARGS=...]   build and load only that stack (names or globs, comma-separated), then cdktf deploy it"
	@echo "make diff ENV=<stack>     the same, then cdktf diff (terraform plan) of that stack"
	@echo "make test    install what is needed, run the test suite (TEST_WORKERS=3 pytest-xdist workers; 0 for one process)"
	@echo "make plan-report [BASE=<git ref>]   what the working tree changes against BASE, as Markdown (fails only on error)"
	@echo "make bootstrap ENV=<env> PHASE=secrets|cluster [ROTATE=<name>] [BOOTSTRAP_ARGS=...]   day-0 secrets in SSM / ACL bootstrap and Vault init"
	@echo "make e2e     opt-in: the whole bootstrap against local -dev agents (needs nomad, consul, vault on PATH)"
	@echo "make bench   synth cost: floor, full synth, scale with N services, peak memory, make test (writes bench-results.json)"
	@echo "make clean   remove build outputs (cdktf.out/); 'make distclean' also removes .venv and node_modules"

$(STAMP_PY): requirements.txt constructs/pyproject.toml
	@if [ ! -x $(PY) ]; then \
	  echo "creating $(VENV) with $(PYTHON)"; \
	  $(PYTHON) -c 'import sys; sys.exit(0 if sys.version_info[:2] == (3, 11) else "hashistack-cdk needs Python 3.11 (set PYTHON=/path/to/python3.11)")'; \
	  $(PYTHON) -m venv $(VENV); \
	fi
	$(PY) -m pip install --quiet --disable-pip-version-check -r requirements.txt
	$(PY) -m pip install --quiet --disable-pip-version-check --no-deps --no-build-isolation -e ./constructs
	@touch $@

$(STAMP_CHECKOV): requirements-checkov.txt
	@if [ ! -x $(CHECKOV_VENV)/bin/python ]; then $(PYTHON) -m venv $(CHECKOV_VENV); fi
	$(CHECKOV_VENV)/bin/python -m pip install --quiet --disable-pip-version-check -r requirements-checkov.txt
	@touch $@

$(STAMP_NODE): package.json package-lock.json
	npm ci --no-audit --no-fund --loglevel=error
	@touch $@

setup: $(STAMP_PY) $(STAMP_NODE)

# The app runs directly, as `cdktf synth` would run it (same CDKTF_OUTDIR, byte-identical output),
# without the CLI's spinner: a log gets a few plain lines, and a HashistackError arrives once, as
# one line (the CLI would print the app's stderr twice). Like the CLI, stack directories the app
# no longer produces are removed.
synth: setup
	@CDKTF_OUTDIR=cdktf.out $(PY) main.py
	@$(PY) -c 'import json, pathlib, shutil; out = pathlib.Path("cdktf.out"); \
	  keep = set(json.loads((out / "manifest.json").read_text())["stacks"]); \
	  [shutil.rmtree(d) for d in sorted((out / "stacks").iterdir()) if d.is_dir() and d.name not in keep]'
	@echo "synthesized into cdktf.out/stacks:" $$(ls cdktf.out/stacks)

# Debian tools the boot tests run: cloud-init (schema), shellcheck, debootstrap (the sandbox
# root), apt-ftparchive (apt-utils: the sandbox's package repository). Installed when absent.
APT_TOOLS := cloud-init:cloud-init shellcheck:shellcheck debootstrap:debootstrap apt-ftparchive:apt-utils
apt-tools:
	@missing=""; for pair in $(APT_TOOLS); do command -v "$${pair%%:*}" >/dev/null || missing="$$missing $${pair#*:}"; done; \
	if [ -n "$$missing" ]; then \
	  echo "installing$$missing"; \
	  apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends$$missing >/dev/null; \
	fi

# The daily loop: HASHISTACK_STACKS makes the app build only the named stacks, so deploying a
# service stack never loads the AWS provider (see stacks/app.py). Plain `cdktf deploy <stack>`
# gives the same result, only slower: it synthesizes every stack first.
comma := ,
deploy diff: setup
	@if [ -z "$(strip $(ENV))" ]; then \
	  echo "make $@ ENV=<stack>: name the stack(s), comma-separated names or globs; the stacks are:" >&2; \
	  HASHISTACK_STACKS= $(PY) -c 'from stacks.app import stack_names; print(" ".join(stack_names()))' >&2; \
	  exit 2; \
	fi
	HASHISTACK_STACKS='$(ENV)' cdktf $@ $(foreach s,$(subst $(comma), ,$(ENV)),'$(s)') $(ARGS)

# Three pytest-xdist workers on the 2 cores: the real-tool tests spend much of their time waiting
# (the dev-infra apply against moto mostly sits in the AWS provider's fixed waits; the OpenBao
# servers), and a third worker keeps both cores busy meanwhile. The app is synthesized once, in a
# background process started before the workers, or taken from the cache (tests/conftest.py).
# Whole modules go to one worker, so module-scoped set-up (an engine started per environment) runs
# once; tests/scheduling.py hands out the longest first (--no-loadscope-reorder keeps its order),
# and the shortest to a worker still busy with a long test. TEST_WORKERS=0 runs the suite in one
# process.
TEST_WORKERS ?= 3
test: setup $(STAMP_CHECKOV) apt-tools
	$(PY) -m pytest -n $(TEST_WORKERS) --dist loadfile --no-loadscope-reorder

bench: setup $(STAMP_CHECKOV)
	$(PY) scripts/bench.py $(BENCH_ARGS)

# Only the report reaches stdout (setup's messages go to stderr, the recipe is not echoed), so
# `make plan-report > plan.md` holds the report alone. Make turns every failing recipe into exit 2,
# so it cannot pass on the script's 0 (no change) / 2 (changes) / 1 (error): the target fails only
# when the report fails. CI that needs the three codes calls scripts/plan_report.py directly.
plan-report:
	@$(MAKE) --no-print-directory setup >&2
	@$(PY) scripts/plan_report.py $(if $(BASE),--base $(BASE)) $(PLAN_ARGS) || [ $$? -eq 2 ]

# Day-0 bootstrap (README, "Bring-up"): AWS from the standard AWS_* variables, names only printed.
bootstrap: setup
	@test -n "$(ENV)" || { echo "usage: make bootstrap ENV=<env> PHASE=secrets|cluster [ROTATE=<name>]"; exit 2; }
	@test "$(PHASE)" = secrets -o "$(PHASE)" = cluster || { echo "PHASE must be secrets or cluster"; exit 2; }
	$(PY) -m hashistack.bootstrap --environments stacks.environments --env $(ENV) --phase $(PHASE) \
	  $(if $(ROTATE),--rotate $(ROTATE)) $(BOOTSTRAP_ARGS)

# Opt-in: runs the bootstrap against `consul agent -dev`, `nomad agent -dev` and a `vault server`
# on this machine; skips with the reason when a binary is not on PATH.
e2e: setup
	$(PY) -m pytest -m e2e -rs tests/test_bootstrap_e2e.py

clean:
	rm -rf cdktf.out .pytest_cache

distclean: clean
	rm -rf $(VENV) $(CHECKOV_VENV) node_modules
