# Two commands do all the set-up on a fresh machine:
#   make app    create .venv if missing, install, start the app on the demo corpus
#   make test   the same set-up, then the whole test suite
PYTHON ?= python3
VENV ?= .venv
BIN := $(VENV)/bin
# PyPI's torch 2.13.0 is the CUDA build on Linux and the MPS build on macOS;
# on machines with a local CPU wheel pinned in pip's config it resolves to that.
TORCH_SPEC ?= torch==2.13.0

.PHONY: app test bench browser clean ray wheel-check

app: $(VENV)/.installed
	$(BIN)/ser app

test: $(VENV)/.installed browser
	$(BIN)/python -m pytest

$(VENV)/.installed: pyproject.toml setup.py
	test -x $(BIN)/python || $(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install --quiet --upgrade pip
	$(BIN)/python -c "import torch" 2>/dev/null || $(BIN)/python -m pip install --quiet "$(TORCH_SPEC)"
	$(BIN)/python -m pip install --quiet -e ".[dev]"
	touch $@

# The real-browser tests drive Debian's chromium (never `playwright install`);
# where it cannot be installed they skip and say why.
browser:
	@command -v chromium >/dev/null 2>&1 || { [ "$$(id -u)" = 0 ] && command -v apt-get >/dev/null 2>&1 \
	  && (apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq chromium >/dev/null) \
	  || echo "chromium not installed: browser tests will be skipped"; }

# The ray executor (ser train --executor ray); the dev extra, and so make test, has it too.
ray: $(VENV)/.installed
	$(BIN)/python -m pip install --quiet -e ".[ray]"

# The wheel as a user installs it: its real dependencies in a fresh venv outside the checkout,
# then `ser app` served from there (CI runs it after the tests).
wheel-check: $(VENV)/.installed
	bash .ci/wheel "$(TORCH_SPEC)"

bench: $(VENV)/.installed
	$(BIN)/python bench/featurize.py

clean:
	rm -rf $(VENV) .pytest_cache build *.egg-info
