# churnlab: PostgreSQL connection churn and ephemeral-port exhaustion, reproduced.
# `make` alone lists the targets. `make test` is exactly what CI runs.
.DEFAULT_GOAL := help
SHELL := bash
.SHELLFLAGS := -euo pipefail -c
MAKEFLAGS += --no-builtin-rules --no-print-directory

VENV := .venv
CHURNLAB_BIN := $(VENV)/bin/churnlab
# The variables named on this make's own command line ($(origin) is "command line" only for those).
# make passes every variable through the environment; with this list the hosts commands count
# CONFIRM, CONFIRM_REPRO (and an INVENTORY outside the lab) only when given here, never when
# inherited from the shell: `make provision CONFIRM=yes` confirms, `export CONFIRM=yes` does not.
GIVEN := $(strip $(foreach v,INVENTORY CONFIRM CONFIRM_REPRO,$(if $(filter command line,$(origin $(v))),$(v))))
CHURNLAB := CHURNLAB_GIVEN='$(GIVEN)' $(CHURNLAB_BIN)

# The lab's make variables reach the churnlab CLI through the environment
# (each option names its variable), never as shell-quoted arguments: any value
# arrives intact and the CLI checks it (one line, exit code 2, nothing started).
# Defaults and ranges live in the CLI (`make help` lists them), never here: an
# unset variable reaches the CLI empty, so the hosts commands can tell a value
# the user named from none (production never gets the lab's defaults).
PYTEST_ARGS ?=
PYTEST := $(VENV)/bin/pytest $(PYTEST_ARGS)
export VARIANT PROFILE WORKER_CLASS WORKERS THREADS CONN_MAX_AGE WORKER_CONNECTIONS GUNICORN_BACKLOG APP_PORT SCENARIO VUS ITERATIONS KEEPALIVE \
       ENDPOINT SAMPLE_INTERVAL RUN DIAG_SECONDS VARIANTS PROFILES VUS_LEVELS SERVICE PGBOUNCER_POOL_SIZE \
       INVENTORY LIMIT CHECK CONFIRM CONFIRM_REPRO ANSIBLE_ARGS PG_MAJOR \
       FRONT HTTPS_PORT FRONT_KEEPALIVE OBSERVE PROM_PORT
export LOADGENS LOADGEN_PORT_RANGE LOADGEN_CPUS
export RANK_VARIANTS RANK_LEVELS RANK_ITERATIONS RANK_REPRO
export FAULT FAULT_AT FAULT_FOR FAULT_TAIL FAULT_DB_CPUS FAULT_LOSS_PCT FAULT_DELAY_MS CONN_HEALTH_CHECKS  # faults mid-load (churnlab/faults/plan.py)
export EX SEED CAUSE
export SCRAPE_INTERVAL RUNBOOK_BASE RULES_FILE REMOVE  # make alert-rules (churnlab/evidence/alert_rules.py)
export SNAPSHOT  # make diagnose SNAPSHOT=FILE: a probe's snapshot (churnlab/investigate/), offline

$(VENV)/.installed: pyproject.toml
	python3 -m venv $(VENV)
	$(VENV)/bin/pip install --quiet --disable-pip-version-check -e '.[dev,tools]'
	touch $@

.PHONY: help
help: ## Show this help, the variants and profiles (config/presets.yml) and every variable's range
	@printf 'Usage: make <target> [VARIABLE=value ...]\n\nTargets:\n'
	@grep -hE '^[a-zA-Z0-9_-]+:.*## ' $(MAKEFILE_LIST) | awk 'BEGIN {FS = ":.*## "}; {printf "  \033[36m%-18s\033[0m %s\n", $$1, $$2}'
	@printf '\n'
	@if [ -x $(CHURNLAB_BIN) ]; then $(CHURNLAB) variants; \
	 else echo "Variants, profiles and ranges: run 'make venv' (or any target), then 'make help' again."; fi
	@printf 'Other variables: SCENARIO (ab ramp) KEEPALIVE (0 1) ENDPOINT RUN (a run id) SERVICE (app db pgbouncer front) PG_MAJOR (14 15)\n'
	@printf '  FRONT (none https) OBSERVE (0 1)\n'
	@printf '  matrix: VARIANTS PROFILES VUS_LEVELS (comma- or space-separated); rank: RANK_VARIANTS RANK_LEVELS RANK_ITERATIONS RANK_REPRO\n'
	@printf '  hosts: INVENTORY CHECK CONFIRM CONFIRM_REPRO ANSIBLE_ARGS (CONFIRM*: only on the command line); investigate: LIMIT\n'
	@printf '  faults: FAULT (db-restart db-pause pgbouncer-kill db-network-cut db-slow db-lossy) FAULT_AT FAULT_FOR FAULT_TAIL FAULT_DB_CPUS FAULT_LOSS_PCT FAULT_DELAY_MS; CONN_HEALTH_CHECKS (0 1)\n'

.PHONY: bootstrap
bootstrap: ## Optional: install Docker + Compose v2 + debootstrap (Debian/Ubuntu); demo and test do it themselves
	scripts/bootstrap.sh

.PHONY: venv
venv: $(VENV)/.installed ## Create the Python environment (.venv)

.PHONY: images
images: $(VENV)/.installed ## Build every image locally (air-gapped: debootstrap base, Debian packages, PyPI); the db of PG_MAJOR (14, or 15)
	$(CHURNLAB) images

.PHONY: lab-up
lab-up: $(VENV)/.installed ## Start the lab: make lab-up VARIANT=pgbouncer PROFILE=repro [WORKERS=.. THREADS=..] [PG_MAJOR=15] [FRONT=https] [OBSERVE=1]
	$(CHURNLAB) up

.PHONY: load
load: $(VENV)/.installed ## Put k6 load on the running lab: make load SCENARIO=ab VUS=500 ITERATIONS=10000 KEEPALIVE=0 [LOADGENS=2] [FAULT=db-restart FAULT_AT=10s FAULT_FOR=10s]
	$(CHURNLAB) load

.PHONY: diagnose
diagnose: $(VENV)/.installed ## Verdict in plain words: on the running lab, a finished run with RUN=<run-id>, or a probe's SNAPSHOT=FILE
	$(CHURNLAB) diagnose

.PHONY: probe
probe: ## The read-only probe as one file for a host's system python3: .lab/probe/churnlab-investigate.pyz
	python3 -m churnlab.investigate.pyz .lab/probe/churnlab-investigate.pyz

.PHONY: bench-probe
bench-probe: $(VENV)/.installed ## The probe's own cost: CPU s per sampled second, wall time of --seconds N (results/bench-probe-<id>/)
	$(VENV)/bin/python -m churnlab.investigate.bench

.PHONY: matrix
matrix: $(VENV)/.installed ## VARIANTS x PROFILES x VUS_LEVELS, to results/matrix-<id>/report.html + summary.md
	$(CHURNLAB) matrix

.PHONY: rank
rank: $(VENV)/.installed ## Every fix side by side (c=500/2000/5000, ping vs healthz), to results/rank-<id>/
	$(CHURNLAB) rank

.PHONY: rank-readme
rank-readme: $(VENV)/.installed ## Write docs/variants.md's "which fix to pick" block from a rank: make rank-readme [RUN=rank-<id>]
	$(CHURNLAB) rank --readme

.PHONY: demo
demo: bootstrap $(VENV)/.installed ## The incident and its fix, from a fresh machine: direct + repro fails, gthread + repro holds
	$(CHURNLAB) demo

.PHONY: lab-logs
lab-logs: $(VENV)/.installed ## Show the app's recent log lines (SERVICE=db|pgbouncer for others)
	$(CHURNLAB) logs

.PHONY: lab-down
lab-down: $(VENV)/.installed ## Stop the lab; no containers or networks are left (the data volume stays)
	$(CHURNLAB) down

.PHONY: lab-clean
lab-clean: $(VENV)/.installed ## Stop the lab and delete its volumes (results/ is kept)
	$(CHURNLAB) clean

# Training mode (churnlab/training/, config/exercises.yml, docs/training.md)
.PHONY: exercise exercise-start exercise-hint exercise-answer exercise-check exercise-solve exercise-stop
exercise: $(VENV)/.installed ## Training: list the exercises (name, difficulty, what users see)
	$(CHURNLAB) exercise list

exercise-start: $(VENV)/.installed ## Training: make exercise-start EX=<name> [SEED=n]: the hidden scenario up, its ticket
	$(CHURNLAB) exercise start

exercise-hint: $(VENV)/.installed ## Training: the next hint (costs points)
	$(CHURNLAB) exercise hint

exercise-answer: $(VENV)/.installed ## Training: make exercise-answer CAUSE=<case>: name the mechanism
	$(CHURNLAB) exercise answer

exercise-check: $(VENV)/.installed ## Training: apply training/workspace/fix.yml, run the fixed load, say what failed
	$(CHURNLAB) exercise check

exercise-solve: $(VENV)/.installed ## Training: apply the reference solution and check it (scored as such)
	$(CHURNLAB) exercise solve

exercise-stop: $(VENV)/.installed ## Training: bring it down; the score goes to results/training/<name>-<time>.json
	$(CHURNLAB) exercise stop

.PHONY: hosts-up
hosts-up: $(VENV)/.installed ## Start the Ansible lab hosts (db1 pgbouncer1 app1 loadgen1) and pin their SSH host keys
	$(CHURNLAB) hosts up

.PHONY: hosts-down
hosts-down: $(VENV)/.installed ## Stop and remove the Ansible lab hosts; no container or network is left
	$(CHURNLAB) hosts down

.PHONY: hosts-demo
hosts-demo: bootstrap $(VENV)/.installed ## The incident as reported on lab hosts (app + Postgres on one host), then the fix
	$(CHURNLAB) hosts demo

.PHONY: provision
provision: $(VENV)/.installed ## Converge hosts: make provision [INVENTORY=..] [VARIANT=..] [PROFILE=..] [CHECK=1] [CONFIRM=yes]
	$(CHURNLAB) hosts provision

.PHONY: provision-load
provision-load: $(VENV)/.installed ## Load from the loadgen host against the app host; results/ as the compose lab writes them [FAULT=db-restart FAULT_AT=10s FAULT_FOR=10s: lab hosts only]
	$(CHURNLAB) hosts load

.PHONY: investigate
investigate: $(VENV)/.installed ## Read-only probe on any app host (one it did not build too): make investigate INVENTORY=.. [LIMIT=app1] [DIAG_SECONDS=5] [CONFIRM=yes]; snapshots in results/investigate-<id>/
	$(CHURNLAB) hosts investigate

.PHONY: sampler
sampler: $(VENV)/.installed ## The socket sampler (systemd, node_exporter's textfile) on app hosts for the alert rules: make sampler INVENTORY=.. [LIMIT=..] [REMOVE=1] [CHECK=1] [CONFIRM=yes]
	$(CHURNLAB) hosts sampler

.PHONY: provision-diagnose
provision-diagnose: $(VENV)/.installed ## The same as make investigate (its older name)
	$(CHURNLAB) hosts investigate

.PHONY: alert-rules
alert-rules: $(VENV)/.installed ## The alert rules for your Prometheus: make alert-rules SCRAPE_INTERVAL=15s [RUNBOOK_BASE=https://..] [RULES_FILE=..]
	$(CHURNLAB) alert-rules

.PHONY: docs
docs: $(VENV)/.installed ## Write docs/variables.md from the ranges (churnlab/core/bounds.py), the CLI's options and this Makefile
	$(VENV)/bin/python -m churnlab.cli.vardoc > docs/variables.md.tmp
	mv docs/variables.md.tmp docs/variables.md

.PHONY: lint
lint: $(VENV)/.installed ## Linters only: ruff, the package's import walls (lint-imports), shell syntax, yamllint, ansible-lint
	$(VENV)/bin/ruff check churnlab tests app
	$(VENV)/bin/lint-imports --no-cache
	bash -n scripts/*.sh compose/images/*/*.sh playbooks/files/*.sh .ci/run
	$(VENV)/bin/yamllint --strict ansible inventories playbooks config .yamllint.yml
	PATH="$(CURDIR)/$(VENV)/bin:$$PATH" $(VENV)/bin/ansible-lint --offline --profile production -q

.PHONY: test-unit
test-unit: $(VENV)/.installed ## Unit tests: seconds, no Docker, no make/compose/k6/ansible subprocess
	$(PYTEST) -n auto tests/unit

.PHONY: test-contract
test-contract: bootstrap $(VENV)/.installed ## Contract tests with the real tools, no container: compose config, k6, ansible, pip install
	$(PYTEST) -n auto tests/contract

.PHONY: test-e2e
test-e2e: bootstrap $(VENV)/.installed ## End-to-end tests on the real compose lab (builds images; several minutes)
	$(PYTEST) --durations=12 tests/e2e

.PHONY: test-hosts
test-hosts: bootstrap $(VENV)/.installed ## End-to-end on the Ansible lab hosts (tests/hosts; several minutes)
	$(PYTEST) --durations=12 tests/hosts

.PHONY: test
test: bootstrap $(VENV)/.installed ## Everything, from a fresh machine (what CI runs): lint beside unit, then e2e beside the hosts' converges, then contract beside the hosts' loads
	$(MAKE) -s -j2 --output-sync=target lint test-unit
	scripts/test-suites.sh
