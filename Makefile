# Two entry points: `make demo` grades the bundled class, `make test` runs every check.
PYTHON ?= python3

.PHONY: install demo test bench

# Keep whatever torch is already installed (a CUDA build stays a CUDA build); install
# the pinned release only when there is none.
install:
	@$(PYTHON) -c "import torch" 2>/dev/null || $(PYTHON) -m pip install "torch==2.13.0"
	$(PYTHON) -m pip install -e ".[test]"

demo: install
	$(PYTHON) -m grader grade examples/class/alice examples/class/bob examples/class/carol --jobs 2

# `grader validate` runs beside the tests (most tests use one core); its report follows.
test: install
	@log=$$(mktemp); \
	$(PYTHON) -m grader validate --jobs 1 >"$$log" 2>&1 & vpid=$$!; \
	$(PYTHON) -m pytest; tests=$$?; \
	wait $$vpid; valid=$$?; \
	echo "--- grader validate"; cat "$$log"; rm -f "$$log"; \
	test $$tests -eq 0 && test $$valid -eq 0

bench: install
	$(PYTHON) benchmarks/bench_full_suite.py
	$(PYTHON) benchmarks/bench_grading.py
