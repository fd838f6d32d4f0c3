# The workbook's two commands: `make lab` opens it, `make test` runs every test.
# Both create .venv when it is missing and refresh it when a requirements file changes.

PYTHON ?= python3
VENV   := .venv
BIN    := $(VENV)/bin
STAMP  := $(VENV)/.installed
# JupyterLab refuses to run as root without this flag (containers and CI run as root).
ROOT_FLAG := $(shell [ "$$(id -u)" = 0 ] && echo --allow-root)
# One notebook for `make check` and `make notebooks`, by number (NB=03); empty means all of them.
NB ?=
NBVAL := --nbval --nbval-current-env --nbval-sanitize-with test/nbval_sanitize.cfg

.PHONY: setup lab test lint bench help notebooks check grade zip figures

help:
	@echo "make setup   create .venv and install the workbook's packages (make lab and make test do it too)"
	@echo "make lab     open the workbook in JupyterLab (http://127.0.0.1:8888)"
	@echo "make test    run every test (lint and types, unit, integration, security, properties)"
	@echo "make bench   print the benchmark figures"
	@echo "make zip     build the Lambda's deployment zip in build/lambdaone.zip (ARGS='--arch arm64 --key FILE')"
	@echo "make check NB=03      run your notebooks/03_*.ipynb and report each exercise check (all without NB; NB=3,5 too)"
	@echo "make grade            grade every exercise with the template's own checks (BASE=<commit>, REPO=<clone>, NB=03)"
	@echo "                      writes grade-report.json, and the job summary in GitHub Actions"
	@echo "make notebooks NB=03  reset notebooks/03_*.ipynb from solutions/ (your edits in it are lost; all without NB)"
	@echo "make figures redraw figures/*.svg from workbook/figures/ (a test fails when they are stale)"

$(STAMP): requirements.txt requirements-dev.txt
	@$(PYTHON) -c 'import sys; v = sys.version_info; sys.exit(0 if v >= (3, 11) else f"Python 3.11 or newer is needed; {sys.executable} is {v.major}.{v.minor}")'
	@test -x $(BIN)/python || { echo "Creating $(VENV)"; $(PYTHON) -m venv $(VENV); }
	@echo "Installing the workbook's packages into $(VENV) (the first time takes a minute)"
	@$(BIN)/python -m pip install --quiet --disable-pip-version-check --upgrade pip
	@$(BIN)/python -m pip install --quiet --disable-pip-version-check -r requirements-dev.txt
	@touch $(STAMP)

setup: $(STAMP)

# JupyterLab listens on loopback only and asks for its token, except in a codespace (CODESPACES=true), whose
# private port forwarding already authenticates the learner: there the token is off, the forwarded page's
# origin (https://NAME-PORT.DOMAIN) is the one other origin allowed, and the forwarded port opens the browser.
# The workbook's settings overrides (.jupyter/lab/settings) turn off the news pop-up and render markdown.
LAB_PORT ?= 8888
CODESPACE_FLAGS := $(if $(filter true,$(CODESPACES)),--no-browser --ServerApp.port_retries=0 \
	--IdentityProvider.token='' \
	--ServerApp.allow_origin=https://$(CODESPACE_NAME)-$(LAB_PORT).$(GITHUB_CODESPACES_PORT_FORWARDING_DOMAIN))

lab: $(STAMP)
	$(BIN)/jupyter lab --ip=127.0.0.1 --port=$(LAB_PORT) $(ROOT_FLAG) $(CODESPACE_FLAGS) --ServerApp.root_dir="$(CURDIR)" \
		--LabApp.app_settings_dir="$(CURDIR)/.jupyter/lab/settings" \
		--LabApp.default_url=/lab/tree/notebooks/00_welcome.ipynb

test: $(STAMP) lint
	$(BIN)/python -m pytest
	$(BIN)/python -m workbook.generate --check
	$(BIN)/python -m pytest $(NBVAL) solutions/

lint: $(STAMP)
	$(BIN)/python -m ruff check .
	$(BIN)/python -m mypy --strict lambdaone lambda_function.py
	$(BIN)/hadolint --failure-threshold error Dockerfile

bench: $(STAMP)
	$(BIN)/python bench/run.py
	$(BIN)/python bench/jwks_faults.py

# Learner notebooks are generated from solutions/ (the single source): never edit notebooks/ by hand.
notebooks: $(STAMP)
	$(BIN)/python -m workbook.generate $(NB)

check: $(STAMP)
	$(BIN)/python -m workbook.selfcheck $(NB)

# The notebooks' diagrams are drawn by workbook/figures/*.py: edit those, never the SVGs.
figures: $(STAMP)
	$(BIN)/python -m workbook.figures

# The instructor's (and the Classroom's) grade: the learner's exercise cells, checked by the template's own
# check cells and workbook/checks (the first commit, or BASE=<commit>); REPO=<path> grades a learner's clone.
BASE ?=
REPO ?= .
grade: $(STAMP)
	$(BIN)/python -m workbook.grade --repo "$(REPO)" $(if $(BASE),--base "$(BASE)") $(NB)

# The deployment zip: packages for Lambda's platform and Python, the code, bytecode, reproducible bytes.
zip: $(STAMP)
	$(BIN)/python -m lambda_build.build_zip $(ARGS)
