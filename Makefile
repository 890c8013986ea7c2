# Two commands do all set-up on a fresh machine: `make demo` and `make test`.
# GPU: Paddle publishes its CUDA wheels on its own index, one per CUDA version (README.md, "GPU"):
#   make install PADDLE=paddlepaddle-gpu==3.3.1 PADDLE_INDEX=https://www.paddlepaddle.org.cn/packages/stable/cu126/
PYTHON ?= python3
PADDLE ?= paddlepaddle==3.3.1
PADDLE_INDEX ?=
VENV := .venv
PY := $(VENV)/bin/python
STAMP := $(VENV)/.installed
PADDLE_STAMP := $(VENV)/.paddle

.PHONY: install test demo benchmark clean FORCE

install: $(STAMP)

# Holds "PADDLE PADDLE_INDEX"; rewritten only when they change, so changing them re-runs the install.
$(PADDLE_STAMP): FORCE
	@mkdir -p $(VENV)
	@echo '$(PADDLE) $(PADDLE_INDEX)' | cmp -s - $@ || echo '$(PADDLE) $(PADDLE_INDEX)' > $@

# Re-runs only when the install inputs change; pip itself is idempotent too. Paddle is installed
# first, as asked (the other variant is removed: both provide `paddle`); then this package without
# its dependencies, and its dependencies except paddlepaddle (which would pull in the CPU wheel
# beside a GPU one), pinned by constraints.txt.
$(STAMP): setup.py constraints.txt $(PADDLE_STAMP)
	test -x $(PY) || $(PYTHON) -m venv $(VENV)
	$(PY) -m pip install --quiet --upgrade "pip>=23" setuptools wheel
	name=$$(echo '$(PADDLE)' | sed 's/[<>=!~;[ ].*//'); for other in paddlepaddle paddlepaddle-gpu; do \
		if [ "$$other" != "$$name" ]; then $(PY) -m pip uninstall --quiet --yes $$other 2>/dev/null || true; fi; done
	$(PY) -m pip install --quiet $(if $(PADDLE_INDEX),--extra-index-url $(PADDLE_INDEX)) '$(PADDLE)'
	$(PY) -m pip install --quiet --no-deps -e .
	$(PY) -c 'import importlib.metadata as m; reqs = m.requires("paddle-rembert") or []; \
		keep = [r.partition(";")[0].strip() for r in reqs if r.partition(";")[2].replace(" ", "") in ("", "extra==\"test\"")]; \
		print("\n".join(k for k in keep if not k.lower().startswith("paddlepaddle")))' > $(VENV)/requirements.txt
	grep -v '^paddlepaddle' constraints.txt > $(VENV)/constraints.txt
	$(PY) -m pip install --quiet -c $(VENV)/constraints.txt -r $(VENV)/requirements.txt
	$(PY) -W 'ignore:No ccache found:UserWarning' -c 'import paddle; print("installed PaddlePaddle", paddle.__version__, "(CUDA)" if paddle.device.is_compiled_with_cuda() else "(CPU)")'
	$(PY) -c 'from paddle_rembert.kernels.build import main; main()'
	touch $(STAMP)

# Two pytest workers (one per core on the 2-core machines CI uses); test files, not single tests, are
# spread over them, so a file's shared fixtures are built once. TEST_WORKERS=0 runs in one process.
TEST_WORKERS ?= 2

test: install
	$(PY) -m pytest -q $(if $(filter-out 0,$(TEST_WORKERS)),-n $(TEST_WORKERS) --dist loadfile)

demo: install
	$(PY) tools/demo.py

benchmark: install
	$(PY) -m tools.benchmark all

clean:
	rm -rf $(VENV) demo_output bench_output .pytest_cache
