# The two commands a user runs: `make demo` (the main job) and `make test` (the test suite).
# Both install what is missing first (tools/install.sh is idempotent: seconds when installed).
PY := .venv/bin/python
PYTEST_ARGS ?=

.PHONY: install demo test clean

install:
	bash tools/install.sh

demo: install
	$(PY) tools/demo.py

test: install
	$(PY) -m pytest tests $(PYTEST_ARGS)

clean:
	rm -rf work_dirs .pytest_cache
