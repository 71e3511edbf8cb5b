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

# The tests run in two processes, one core each: `grader validate` followed by the
# mutant submissions (tests/test_mutants.py, graded one at a time) beside everything
# else, whose report comes first. nbgrader must be installed: its end-to-end tests may
# not skip.
test: install
	@log=$$(mktemp); export GRADER_REQUIRE_NBGRADER=1; \
	( $(PYTHON) -m grader validate --jobs 1; v=$$?; \
	  MUTANT_JOBS=1 $(PYTHON) -m pytest -q tests/test_mutants.py; m=$$?; \
	  test $$v -eq 0 && test $$m -eq 0 ) >"$$log" 2>&1 & side=$$!; \
	$(PYTHON) -m pytest --ignore=tests/test_mutants.py; tests=$$?; \
	wait $$side; beside=$$?; \
	echo "--- grader validate, then tests/test_mutants.py"; cat "$$log"; rm -f "$$log"; \
	test $$tests -eq 0 && test $$beside -eq 0

bench: install
	$(PYTHON) benchmarks/bench_full_suite.py
	$(PYTHON) benchmarks/bench_grading.py
