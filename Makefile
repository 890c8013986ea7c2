# Two commands do all set-up on a fresh machine: `make demo` and `make test`.
PYTHON ?= python3
VENV := .venv
PY := $(VENV)/bin/python
STAMP := $(VENV)/.installed

.PHONY: install test demo benchmark clean

install: $(STAMP)

# Re-runs only when the install inputs change; pip itself is idempotent too.
$(STAMP): setup.py constraints.txt
	test -x $(PY) || $(PYTHON) -m venv $(VENV)
	$(PY) -m pip install --quiet --upgrade "pip>=23" setuptools wheel
	$(PY) -m pip install --quiet -c constraints.txt -e '.[test]'
	touch $(STAMP)

test: install
	$(PY) -m pytest -q

demo: install
	$(PY) tools/demo.py

benchmark: install
	$(PY) tools/benchmark.py all

clean:
	rm -rf $(VENV) demo_output bench_output .pytest_cache
