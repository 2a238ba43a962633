# The two commands a user runs: `make demo` (the main job) and `make test` (the test suite).
# Both install what is missing first (tools/install.sh is idempotent: seconds when installed).
# STACK=main (default: torch 2.13, .venv/) or STACK=reference (the OpenMMLab reference stack: torch 2.1.2,
# numpy 1.26, .venv-reference/) or STACK=gpu-machine (torch 2.11.0, the lent GPU machine's torch,
# .venv-gpu-machine/). On the reference and gpu-machine stacks `make test` runs the subset listed in
# tests/reference_subset.txt (every module, in a fraction of the time); TESTS=tests runs everything.
STACK ?= main
VENV_main := .venv
VENV_reference := .venv-reference
VENV_gpu-machine := .venv-gpu-machine
VENV := $(VENV_$(STACK))
PY := $(VENV)/bin/python
TESTS_main := tests
TESTS_reference := $(shell grep -v '^\#' tests/reference_subset.txt 2>/dev/null)
TESTS_gpu-machine := $(TESTS_reference)
TESTS ?= $(TESTS_$(STACK))
PYTEST_ARGS ?=

.PHONY: install demo test mutation gpu-dry-run clean

install:
	STACK=$(STACK) bash tools/install.sh

demo: install
	$(PY) tools/demo.py

test: install
	$(PY) -m pytest $(TESTS) $(PYTEST_ARGS)

# The mutation run (docs/testing.md): one-line mutants of the package, each must fail its tests (~6 minutes).
mutation: install
	nice -n 5 $(PY) benchmarks/mutation.py

# benchmarks/gpu_check.sh's phases on the CPU at tiny sizes, in this stack's environment: with
# STACK=gpu-machine, under the GPU machine's torch 2.11 before a GPU is lent (docs/install.md).
gpu-dry-run: install
	PYTHON=$(PY) bash benchmarks/gpu_check.sh --dry-run --out work_dirs/gpu_check_dry_$(STACK)

clean:
	rm -rf work_dirs .pytest_cache
