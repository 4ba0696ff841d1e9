# Two commands do all the set-up on a fresh machine (see README.md):
#   make book   -> .venv with everything, then the HTML book in _build/html (warnings are errors)
#   make test   -> .venv with everything, then unit tests + every chapter notebook (pytest --nbval)
PYTHON ?= python3
VENV   ?= .venv
BIN    := $(VENV)/bin
STAMP  := $(VENV)/.installed

.PHONY: book test lint clean venv

venv: $(STAMP)

# Re-install only when the project's dependencies change.
$(STAMP): pyproject.toml
	@test -x $(BIN)/python || $(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install --quiet --upgrade pip
	$(BIN)/python -m pip install --quiet -e '.[book,test]'
	@touch $(STAMP)

book: $(STAMP)
	$(BIN)/jupyter-book build . --warningiserror --nitpick --keep-going

test: $(STAMP)
	$(BIN)/ruff check .
	$(BIN)/pytest --nbval

lint: $(STAMP)
	$(BIN)/ruff check .

clean:
	rm -rf _build
