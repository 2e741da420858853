# The project's commands. Each target brings the machine to a working state on its own
# (.venv from requirements.txt with the library installed editable, Node 22 for the jsii runtime
# from the lockfile, the cdktf CLI only for the targets that run it), skips that when nothing
# changed, then runs. `make doctor` says what the machine lacks.

SHELL := /bin/bash
.SHELLFLAGS := -eu -o pipefail -c
.DEFAULT_GOAL := help

PYTHON ?= $(shell command -v python3.11 || command -v python3)
# Python packages install through uv (pinned here; from PyPI into .venv) or, with PIP=pip,
# through pip (about 100 s instead of 5-10 s). scripts/venv-install falls back to pip, saying
# why, when uv cannot be installed.
UV_VERSION := 0.13.9
PIP ?= uv
VENV_INSTALL = PYTHON=$(PYTHON) PIP=$(PIP) UV_VERSION=$(UV_VERSION) scripts/venv-install
VENV := .venv
PY := $(VENV)/bin/python
STAMP_PY := $(VENV)/.installed
# node_modules: the pinned Node 22 alone (package.json "dependencies"), for the jsii runtime of
# every synth; then, for deploy and diff, the cdktf CLI too ("devDependencies").
STAMP_NODE := node_modules/.installed-node
STAMP_CLI := node_modules/.installed-cli
CHECKOV_VENV := .venv-checkov
STAMP_CHECKOV := $(CHECKOV_VENV)/.installed
NPM_FLAGS := --no-audit --no-fund --loglevel=error

# Node 22 from node_modules runs the jsii runtime and the cdktf CLI; the machine's own Node and
# npm only install it.
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

.PHONY: help doctor installs setup synth deploy diff test bench bench-fresh plan-report bootstrap tunnel e2e clean distclean apt-tools promote rollback history watch plan apply

help:
	@echo "make doctor  what this machine has and lacks for synth and test, with the install commands"
	@echo "make synth   install what is needed, synthesize every environment's stacks into cdktf.out/"
	@echo "make deploy ENV=<stack> [TUNNEL=1] [ARGS=...]   build and load only that stack (names or globs, comma-separated), then cdktf deploy it (TUNNEL=1: through make tunnel)"
	@echo "make diff ENV=<stack>     the same, then cdktf diff (terraform plan) of that stack"
	@echo "make test    install what is needed, run the test suite (TEST_WORKERS=3 pytest-xdist workers; 0 for one process)"
	@echo "make plan-report [BASE=<git ref>]   what the working tree changes against BASE, as Markdown (fails only on error)"
	@echo "make bootstrap ENV=<env> PHASE=secrets|cluster [TUNNEL=1] [ROTATE=<name>] [BOOTSTRAP_ARGS=...]   day-0 secrets in SSM / ACL bootstrap and Vault init"
	@echo "make tunnel ENV=<env> [LOCAL_PORTS=vault=18200,...]   Session Manager port forwards to the Nomad, Consul and Vault APIs (held until Ctrl-C)"
	@echo "make e2e     opt-in: the whole bootstrap against local -dev agents (needs nomad, consul, vault on PATH)"
	@echo "make bench   synth cost: floor, full synth, scale with N services, peak memory, make test (writes bench-results.json)"
	@echo "make setup [PIP=pip]   only install (.venv through uv, or pip; Node 22 for jsii)"
	@echo "make bench-fresh   first make synth / make test on a fresh clone with empty caches, then after an edit"
	@echo "make clean   remove build outputs (cdktf.out/); 'make distclean' also removes .venv and node_modules"

doctor:
	@$(PYTHON) scripts/doctor.py

$(STAMP_PY): requirements.txt constructs/pyproject.toml scripts/venv-install
	@$(PYTHON) scripts/doctor.py --for synth --quiet
	$(VENV_INSTALL) $(VENV) requirements.txt ./constructs
	@touch $@

$(STAMP_CHECKOV): requirements-checkov.txt scripts/venv-install
	$(VENV_INSTALL) $(CHECKOV_VENV) requirements-checkov.txt
	@touch $@

$(STAMP_NODE): package.json package-lock.json
	npm ci --omit=dev $(NPM_FLAGS)
	@touch $@

# `npm install` with the lockfile adds the CLI beside the Node already there (npm ci would first
# delete node_modules, under any synth running meanwhile) and leaves the lockfile as it is.
$(STAMP_CLI): $(STAMP_NODE)
	npm install --no-save $(NPM_FLAGS)
	@touch $@

setup: $(STAMP_PY) $(STAMP_NODE)

# Each target's installs, run side by side (uv, npm and apt-get wait on the network mostly):
# `$(call install,<targets>)` in a recipe. `setup` itself stays a plain target, so `make -q setup`
# tells whether the installs are current; the goal `installs` has a recipe, so make prints no
# "Nothing to be done" when they are.
install = @$(MAKE) --no-print-directory -j4 installs INSTALLS='$(1)'
installs: $(INSTALLS)
	@:

# The app runs directly, as `cdktf synth` would run it (same CDKTF_OUTDIR, byte-identical output),
# without the CLI's spinner: a log gets a few plain lines, and a HashistackError arrives once, as
# one line (the CLI would print the app's stderr twice). Like the CLI, stack directories the app
# no longer produces are removed; a selective synth (HASHISTACK_STACKS=prod) keeps the others.
synth:
	$(call install,setup)
	@CDKTF_OUTDIR=cdktf.out $(PY) main.py
	@$(PY) scripts/prune_stacks.py cdktf.out
	@echo "synthesized into cdktf.out/stacks:" $$(ls cdktf.out/stacks)

# Debian tools the boot tests run: cloud-init (schema), shellcheck, mmdebstrap (the sandbox
# root), apt-ftparchive (apt-utils: the sandbox's package repository), nft (nftables: the task
# firewall in the real kernel). Installed when absent.
APT_TOOLS := cloud-init:cloud-init shellcheck:shellcheck mmdebstrap:mmdebstrap apt-ftparchive:apt-utils nft:nftables
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
# TUNNEL=1: the providers reach the APIs through `make tunnel ENV=<env>` (its exports, written here)
TUNNEL_ENV = $(or $(XDG_CACHE_HOME),$(HOME)/.cache)/hashistack/$(patsubst %-vault,%,$(patsubst %-infra,%,$(firstword $(subst $(comma), ,$(ENV))))).tunnel.env
# deploy: after the apply (failed or not), each deployed services stack's rollouts are watched when
# NOMAD_ADDR is set (scripts/watch.py --after-deploy): a failure is explained, not just reported.
deploy diff:
	$(call install,setup)
	@if [ -z "$(strip $(ENV))" ]; then \
	  echo "make $@ ENV=<stack>: name the stack(s), comma-separated names or globs; the stacks are:" >&2; \
	  HASHISTACK_STACKS= $(PY) -c 'from stacks.app import stack_names; print(" ".join(stack_names()))' >&2; \
	  exit 2; \
	fi
	$(call install,$(STAMP_CLI))
	$(if $(filter 1,$(TUNNEL)),set -a && . '$(TUNNEL_ENV)' && set +a &&) since=$$(date +%s%N) && \
	  HASHISTACK_STACKS='$(ENV)' cdktf $@ $(foreach s,$(subst $(comma), ,$(ENV)),'$(s)') $(ARGS) \
	  $(if $(filter deploy,$@),|| applied=$$?; \
	  $(PY) scripts/watch.py --after-deploy '$(ENV)' "$$since" || watched=$$?; exit $${applied:-$${watched:-0}})

# Three pytest-xdist workers on the 2 cores: the real-tool tests spend much of their time waiting
# (the dev-infra apply against moto mostly sits in the AWS provider's fixed waits; the OpenBao
# servers), and a third worker keeps both cores busy meanwhile. The app is synthesized once, in a
# background process started before the workers, or taken from the cache (tests/conftest.py).
# Whole modules go to one worker, so module-scoped set-up (an engine started per environment) runs
# once; tests/support/scheduling.py hands out the longest first (--no-loadscope-reorder keeps its order),
# and the shortest to a worker still busy with a long test. TEST_WORKERS=0 runs the suite in one
# process.
TEST_WORKERS ?= 3
test:
	$(call install,setup $(STAMP_CHECKOV) apt-tools)
	$(PY) -m pytest -n $(TEST_WORKERS) --dist loadfile --no-loadscope-reorder

# The README's two commands on a fresh clone of HEAD with empty caches, then the daily loop
# (scripts/bench_fresh.py; about 10 minutes; writes bench-fresh.json). Needs only the machine's Python.
# Releases (scripts/release.py): each writes a release manifest change (releases/<env>.toml) and
# prints it as a diff to commit; `make deploy ENV=<env>` then deploys what the manifest says.
promote:
	$(call install,setup) >&2
	@$(PY) scripts/release.py promote $(SERVICE) --from $(FROM) --to $(TO)

rollback:
	$(call install,setup) >&2
	@$(PY) scripts/release.py rollback $(SERVICE) --env $(ENV) $(if $(TO),--to $(TO))

history:
	$(call install,setup) >&2
	@$(PY) scripts/release.py history --env $(ENV)

# The approval step: `make plan ENV=prod` synthesizes the stack and saves its plan with a readable
# text (plans/prod.tfplan, plans/prod.txt) for review; `make apply PLAN=plans/prod.tfplan` applies
# exactly that plan, and refuses it when the state changed after it was made (scripts/saved_plan.py).
plan:
	$(call install,setup) >&2
	@if [ -z "$(strip $(ENV))" ]; then echo "make plan ENV=<stack>: name one stack" >&2; exit 2; fi
	@CDKTF_OUTDIR=cdktf.out HASHISTACK_STACKS='$(ENV)' $(PY) main.py
	$(if $(filter 1,$(TUNNEL)),set -a && . '$(TUNNEL_ENV)' && set +a &&) $(PY) scripts/saved_plan.py plan '$(ENV)'

apply:
	$(call install,setup) >&2
	@if [ -z "$(strip $(PLAN))" ]; then echo "make apply PLAN=plans/<stack>.tfplan: the reviewed plan" >&2; exit 2; fi
	@CDKTF_OUTDIR=cdktf.out HASHISTACK_STACKS='$(basename $(notdir $(PLAN)))' $(PY) main.py
	$(if $(filter 1,$(TUNNEL)),set -a && . '$(TUNNEL_ENV)' && set +a &&) since=$$(date +%s%N) && \
	  $(PY) scripts/saved_plan.py apply '$(PLAN)' || applied=$$?; \
	  $(PY) scripts/watch.py --after-deploy '$(basename $(notdir $(PLAN)))' "$$since" || watched=$$?; \
	  exit $${applied:-$${watched:-0}}

# After `make deploy ENV=<env>`: follow each job's rollout (NOMAD_ADDR, NOMAD_TOKEN, NOMAD_CACERT)
# and exit 0 (all successful), 3 (rolled back), 4 (failed) or 5 (no decision in time).
watch:
	$(call install,setup) >&2
	@$(PY) scripts/watch.py --env $(ENV) $(JOBS)

bench-fresh:
	$(PYTHON) scripts/bench_fresh.py $(BENCH_ARGS)

bench:
	$(call install,setup $(STAMP_CHECKOV))
	$(PY) scripts/bench.py $(BENCH_ARGS)

# Only the report reaches stdout (setup's messages go to stderr, the recipe is not echoed), so
# `make plan-report > plan.md` holds the report alone. Make turns every failing recipe into exit 2,
# so it cannot pass on the script's 0 (no change) / 2 (changes) / 1 (error): the target fails only
# when the report fails. CI that needs the three codes calls scripts/plan_report.py directly.
plan-report:
	$(call install,setup) >&2
	@$(PY) scripts/plan_report.py $(if $(BASE),--base $(BASE)) $(PLAN_ARGS) || [ $$? -eq 2 ]

# Day-0 bootstrap (README, "Bring-up"): AWS from the standard AWS_* variables, names only printed.
bootstrap:
	$(call install,setup)
	@test -n "$(ENV)" || { echo "usage: make bootstrap ENV=<env> PHASE=secrets|cluster [ROTATE=<name>]"; exit 2; }
	@test "$(PHASE)" = secrets -o "$(PHASE)" = cluster || { echo "PHASE must be secrets or cluster"; exit 2; }
	$(PY) -m hashistack.bootstrap --environments stacks.environments --env $(ENV) --phase $(PHASE) \
	  $(if $(ROTATE),--rotate $(ROTATE)) $(if $(filter 1,$(TUNNEL)),--via-tunnel) $(if $(LOCAL_PORTS),--local-ports $(LOCAL_PORTS)) \
	  $(BOOTSTRAP_ARGS)

# The operator's path to the APIs (README, "Bring-up"): needs the AWS CLI and its Session Manager plugin.
tunnel:
	$(call install,setup)
	@test -n "$(ENV)" || { echo "usage: make tunnel ENV=<env> [LOCAL_PORTS=nomad=4646,consul=8501,vault=8200]"; exit 2; }
	$(PY) -m hashistack.bootstrap --environments stacks.environments --env $(ENV) --phase tunnel \
	  $(if $(LOCAL_PORTS),--local-ports $(LOCAL_PORTS)) $(BOOTSTRAP_ARGS)

# Opt-in: runs the bootstrap against `consul agent -dev`, `nomad agent -dev` and a `vault server`
# on this machine; skips with the reason when a binary is not on PATH.
e2e:
	$(call install,setup)
	$(PY) -m pytest -m e2e -rs tests/real/test_bootstrap_e2e.py

clean:
	rm -rf cdktf.out .pytest_cache

distclean: clean
	rm -rf $(VENV) $(CHECKOV_VENV) node_modules
