# The set-up contract: on a fresh machine with Python >= 3.11, `make demo` and `make test` do everything.
PYTHON ?= python3
VENV := .venv
PY := $(VENV)/bin/python
PIP := $(PY) -m pip --disable-pip-version-check
DEMO_DIR ?= demo_out

.PHONY: demo test install clean

$(VENV)/.installed: pyproject.toml constraints.txt
	$(PYTHON) -m venv $(VENV)
	$(PIP) install --quiet --upgrade pip
	$(PIP) install --quiet -c constraints.txt -e ".[test]"
	touch $@

install: $(VENV)/.installed

demo: install
	$(VENV)/bin/neuromer demo $(DEMO_DIR)

# two workers (the 2-core target machine); a test file is one unit of work, the costliest first
# (tests/conftest.py)
test: install
	$(PY) -m pytest -q -ra -n 2 --dist loadfile --no-loadscope-reorder

clean:
	rm -rf $(VENV) $(DEMO_DIR) .pytest_cache
