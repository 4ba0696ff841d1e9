# Two commands do all the set-up on a fresh machine (see README.md):
#   make book   -> .venv with everything, then the HTML book in _build/html (warnings are errors)
#   make test   -> .venv with everything, Debian's chromium if missing (apt, as root), then unit tests,
#                  every chapter notebook (pytest --nbval) and the built book in headless Chromium
#   make lab    -> .venv with everything (JupyterLab included), then the chapters in JupyterLab
PYTHON ?= python3
VENV   ?= .venv
BIN    := $(VENV)/bin
STAMP  := $(VENV)/.installed
export CHROMIUM ?= /usr/bin/chromium

.PHONY: book test lab lint clean venv chromium

venv: $(STAMP)

# Re-install only when the project's dependencies change.
$(STAMP): pyproject.toml
	@test -x $(BIN)/python || $(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install --quiet --upgrade pip
	$(BIN)/python -m pip install --quiet -e '.[book,test,lab]'
	@touch $(STAMP)

book: $(STAMP)
	$(BIN)/jupyter-book build . --warningiserror --nitpick --keep-going

# tests/test_browser.py drives Debian's chromium. Installed here when missing and we are root;
# otherwise only a hint is printed and that test fails saying how to install it.
chromium:
	@if [ ! -x $(CHROMIUM) ]; then \
	  if [ "$$(id -u)" = 0 ] && command -v apt-get >/dev/null; then \
	    echo "installing chromium (apt-get) for the browser test"; \
	    apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq chromium >/dev/null; \
	  else \
	    echo "warning: $(CHROMIUM) missing; run 'sudo apt-get install -y chromium' (tests/test_browser.py will fail)"; \
	  fi; \
	fi

test: $(STAMP) chromium
	$(BIN)/ruff check .
	$(BIN)/pytest --nbval

# JupyterLab on the repository, opened at book/ (chapters run with book/ as their folder, as in
# `make test`). Pass options with LAB_ARGS, e.g. make lab LAB_ARGS="--no-browser --port 8899".
# As root (a container), JupyterLab refuses to start without --allow-root.
LAB_ARGS ?=
lab: $(STAMP)
	$(BIN)/jupyter-lab --ServerApp.root_dir=$(CURDIR) --LabApp.default_url=/lab/tree/book \
	  $(if $(filter 0,$(shell id -u)),--allow-root) $(LAB_ARGS)

lint: $(STAMP)
	$(BIN)/ruff check .

clean:
	rm -rf _build
