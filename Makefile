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

.PHONY: help setup synth test bench plan-report clean distclean apt-tools

help:
	@echo "make synth   install what is needed, synthesize every environment's stacks into cdktf.out/"
	@echo "make test    install what is needed, run the test suite"
	@echo "make plan-report [BASE=<git ref>]   what the working tree changes against BASE, as Markdown (exit 2 if anything)"
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

synth: setup
	cdktf synth --output cdktf.out
	@ls cdktf.out/stacks

# Debian tools the boot tests run: cloud-init (schema), shellcheck, debootstrap (the sandbox
# root), apt-ftparchive (apt-utils: the sandbox's package repository). Installed when absent.
APT_TOOLS := cloud-init:cloud-init shellcheck:shellcheck debootstrap:debootstrap apt-ftparchive:apt-utils
apt-tools:
	@missing=""; for pair in $(APT_TOOLS); do command -v "$${pair%%:*}" >/dev/null || missing="$$missing $${pair#*:}"; done; \
	if [ -n "$$missing" ]; then \
	  echo "installing$$missing"; \
	  apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends$$missing >/dev/null; \
	fi

test: setup $(STAMP_CHECKOV) apt-tools
	$(PY) -m pytest

bench: setup $(STAMP_CHECKOV)
	$(PY) scripts/bench.py $(BENCH_ARGS)

plan-report: setup
	$(PY) scripts/plan_report.py $(if $(BASE),--base $(BASE))

clean:
	rm -rf cdktf.out .pytest_cache

distclean: clean
	rm -rf $(VENV) $(CHECKOV_VENV) node_modules
