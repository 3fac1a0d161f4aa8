# churnlab: PostgreSQL connection churn and ephemeral-port exhaustion, reproduced.
# `make` alone lists the targets. `make test` is exactly what CI runs.
.DEFAULT_GOAL := help
SHELL := bash
.SHELLFLAGS := -euo pipefail -c
MAKEFLAGS += --no-builtin-rules --no-print-directory

VENV := .venv
CHURNLAB := $(VENV)/bin/churnlab

VARIANT ?= direct
PROFILE ?= repro
SCENARIO ?= ab
VUS ?= 500
ITERATIONS ?= 10000
KEEPALIVE ?= 0
APP_PORT ?= 8000
WORKER_CLASS ?=
WORKERS ?=
THREADS ?=
CONN_MAX_AGE ?=
PYTEST_ARGS ?=
SAMPLE_INTERVAL ?= 1
RUN ?=
VARIANTS ?= $(shell ls compose/variant-*.yml | sed 's|.*/variant-||;s|\.yml||' | paste -sd, -)
PROFILES ?= repro,tuned
VUS_LEVELS ?= 500

knobs = $(if $(WORKER_CLASS),--worker-class '$(WORKER_CLASS)') $(if $(WORKERS),--workers '$(WORKERS)') \
        $(if $(THREADS),--threads '$(THREADS)') $(if $(CONN_MAX_AGE),--conn-max-age '$(CONN_MAX_AGE)')
keepalive = $(if $(filter 1 true yes on,$(KEEPALIVE)),--keepalive,--no-keepalive)

$(VENV)/.installed: pyproject.toml
	python3 -m venv $(VENV)
	$(VENV)/bin/pip install --quiet --disable-pip-version-check -e '.[dev,tools]'
	touch $@

.PHONY: help
help: ## Show this help
	@printf 'Usage: make <target> [VARIABLE=value ...]\n\nTargets:\n'
	@grep -hE '^[a-zA-Z_-]+:.*## ' $(MAKEFILE_LIST) | awk 'BEGIN {FS = ":.*## "}; {printf "  \033[36m%-12s\033[0m %s\n", $$1, $$2}'
	@printf '\nVariables: VARIANT (%s) PROFILE (%s)\n' "$$(ls compose/variant-*.yml | sed 's|.*/variant-||;s|\.yml||' | paste -sd' ')" "$$(ls compose/profile-*.yml | sed 's|.*/profile-||;s|\.yml||' | paste -sd' ')"
	@printf '  knobs: WORKER_CLASS WORKERS THREADS CONN_MAX_AGE; load: SCENARIO (ab ramp) VUS ITERATIONS KEEPALIVE\n'
	@printf '  SAMPLE_INTERVAL; diagnose: RUN; matrix: VARIANTS PROFILES VUS_LEVELS (comma-separated); APP_PORT\n'

.PHONY: bootstrap
bootstrap: ## Install Docker engine + Compose v2 (Debian/Ubuntu) and start the daemon; no-op where present
	scripts/bootstrap.sh

.PHONY: venv
venv: $(VENV)/.installed ## Create the Python environment (.venv)

.PHONY: images
images: $(VENV)/.installed ## Build every image locally (air-gapped: debootstrap base, Debian packages, PyPI)
	$(CHURNLAB) images

.PHONY: lab-up
lab-up: $(VENV)/.installed ## Start the lab: make lab-up VARIANT=pgbouncer PROFILE=repro [WORKERS=.. THREADS=..]
	$(CHURNLAB) up --variant '$(VARIANT)' --profile '$(PROFILE)' --app-port '$(APP_PORT)' $(knobs)

.PHONY: load
load: $(VENV)/.installed ## Put k6 load on the running lab: make load SCENARIO=ab VUS=500 ITERATIONS=10000 KEEPALIVE=0
	$(CHURNLAB) load --scenario '$(SCENARIO)' --vus '$(VUS)' --iterations '$(ITERATIONS)' $(keepalive) \
	  --sample-interval '$(SAMPLE_INTERVAL)'

.PHONY: diagnose
diagnose: $(VENV)/.installed ## Verdict in plain words: on the running lab, or on a finished run with RUN=<run-id>
	$(CHURNLAB) diagnose $(if $(RUN),--run '$(RUN)')

.PHONY: matrix
matrix: $(VENV)/.installed ## VARIANTS x PROFILES x VUS_LEVELS, to results/matrix-<id>/report.html + summary.md
	$(CHURNLAB) matrix --variants '$(VARIANTS)' --profiles '$(PROFILES)' --vus '$(VUS_LEVELS)' \
	  --iterations '$(ITERATIONS)' $(keepalive)

.PHONY: demo
demo: $(VENV)/.installed ## The incident and its fix: direct + repro fails, gthread + repro holds
	$(CHURNLAB) demo --vus '$(VUS)' --iterations '$(ITERATIONS)'

.PHONY: lab-logs
lab-logs: $(VENV)/.installed ## Show the app's recent log lines (SERVICE=db|pgbouncer for others)
	$(CHURNLAB) logs $(or $(SERVICE),app)

.PHONY: lab-down
lab-down: $(VENV)/.installed ## Stop the lab; no containers or networks are left (the data volume stays)
	$(CHURNLAB) down

.PHONY: lab-clean
lab-clean: $(VENV)/.installed ## Stop the lab and delete its volumes (results/ is kept)
	$(CHURNLAB) clean

# The hosts targets read their variables from the environment (make exports
# what is given on its command line), so nothing unnamed reaches a host: the
# variant and profile come from the inventory's own group_vars unless named.
.PHONY: hosts-up
hosts-up: $(VENV)/.installed ## Start the Ansible lab hosts (db1 pgbouncer1 app1 loadgen1) and pin their SSH host keys
	$(CHURNLAB) hosts up

.PHONY: hosts-down
hosts-down: $(VENV)/.installed ## Stop and remove the Ansible lab hosts; no container or network is left
	$(CHURNLAB) hosts down

.PHONY: provision
provision: $(VENV)/.installed ## Converge hosts: make provision [INVENTORY=..] [VARIANT=..] [PROFILE=..] [CHECK=1] [CONFIRM=yes]
	$(CHURNLAB) hosts provision

.PHONY: provision-load
provision-load: $(VENV)/.installed ## Load from the loadgen host against the app host; results/ as the compose lab writes them
	$(CHURNLAB) hosts load

.PHONY: provision-diagnose
provision-diagnose: $(VENV)/.installed ## Read-only verdict on the hosts: sockets, journal, pg_stat_activity (DIAG_SECONDS=5)
	$(CHURNLAB) hosts diagnose

.PHONY: lint
lint: $(VENV)/.installed ## Static checks: ruff, shell syntax, k6 script, compose combinations, yamllint, ansible-lint, syntax-check
	$(VENV)/bin/ruff check churnlab tests app
	bash -n scripts/*.sh compose/images/*/*.sh .ci/run
	$(VENV)/bin/k6 inspect k6/scenarios.js >/dev/null
	$(VENV)/bin/pytest -q tests/unit/test_compose_model.py
	$(VENV)/bin/yamllint --strict ansible inventories playbooks .yamllint.yml
	PATH="$(CURDIR)/$(VENV)/bin:$$PATH" $(VENV)/bin/ansible-lint --offline --profile production -q
	$(VENV)/bin/pytest -q tests/ansible/test_static.py

.PHONY: test
test: lint ## Unit tests, then end-to-end tests on the real lab (builds images; several minutes)
	$(VENV)/bin/pytest $(PYTEST_ARGS) tests/unit tests/e2e tests/ansible
