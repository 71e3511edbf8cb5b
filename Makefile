# Two entry points: `make demo` grades the bundled class, `make test` runs every check.
PYTHON ?= python3

.PHONY: install demo test bench

# `make install`, and so every target here, runs pip only when needed. A stamp file,
# .make/installed-<environment> (git-ignored), records that this checkout was installed,
# editable and with the test extras, into the environment of $(PYTHON). pip runs again
# when there is no stamp, when pyproject.toml is newer than it (edited, or another
# branch checked out), or when the environment no longer holds that install and its
# requirements (a virtual environment made anew, a package removed, another checkout
# installed in its place). `make -B install` reinstalls regardless. tests/test_makefile.py
# checks these cases with `make -n`, which installs nothing.
#
# INSTALL_CHECK prints a key for the environment (its sys.prefix) and "ok" or "stale".
INSTALL_CHECK = import hashlib, json, os, re, sys, importlib.metadata as md; \
  from urllib.parse import unquote, urlparse; \
  here = os.path.realpath(sys.argv[1]); \
  url = lambda d: json.loads(d.read_text("direct_url.json") or "{}"); \
  mine = [d for d in md.distributions(name="nn-grader") if url(d).get("dir_info", {}).get("editable") \
          and os.path.realpath(unquote(urlparse(url(d).get("url", "")).path)) == here]; \
  reqs = (mine[0].requires or []) if mine else []; \
  names = [re.match(r"[A-Za-z0-9._-]+", r).group() for r in reqs if "extra" not in r or "test" in r]; \
  ok = bool(mine) and all(next(iter(md.distributions(name=n)), None) for n in names); \
  print(hashlib.sha256(sys.prefix.encode()).hexdigest()[:16], "ok" if ok else "stale")
INSTALL_STATE := $(shell $(PYTHON) -c '$(INSTALL_CHECK)' '$(CURDIR)' 2>/dev/null)
INSTALL_STAMP ?= .make/installed-$(firstword $(INSTALL_STATE))
ifneq ($(lastword $(INSTALL_STATE)),ok)
.PHONY: $(INSTALL_STAMP)
endif

install: $(INSTALL_STAMP)

# Keep whatever torch is already installed (a CUDA build stays a CUDA build); install
# the pinned release only when there is none.
$(INSTALL_STAMP): pyproject.toml
	@$(PYTHON) -c "import torch" 2>/dev/null || $(PYTHON) -m pip install "torch==2.13.0"
	$(PYTHON) -m pip install -e ".[test]"
	@mkdir -p $(@D) && touch $@

demo: install
	$(PYTHON) -m grader grade examples/class/alice examples/class/bob examples/class/carol --jobs 2

# The tests run in two processes, one core each, of about the same length: `grader
# validate` followed by SIDE_TESTS (the mutant and outside-style submissions, graded one
# at a time, and the slowest end-to-end files) beside everything else, whose report
# comes first. nbgrader must be installed: its end-to-end tests may not skip.
# The browser tests of the report site need Chromium: the side lane installs Debian's
# where it can (as root, with apt-get) and the tests say why they skip where it cannot.
SIDE_TESTS = tests/test_mutants.py tests/test_outside.py tests/test_nbgrader_e2e.py \
  tests/test_adversarial_course.py tests/test_robustness.py tests/test_site_browser.py
CHROMIUM = command -v chromium >/dev/null 2>&1 || command -v chromium-browser >/dev/null 2>&1 || \
  { test "$$(id -u)" = 0 && command -v apt-get >/dev/null 2>&1 && \
    DEBIAN_FRONTEND=noninteractive apt-get install -y -q --no-install-recommends chromium >/dev/null 2>&1; } || \
  echo "note: Chromium is not installed and could not be: the browser tests will be skipped"

test: install
	@log=$$(mktemp); export GRADER_REQUIRE_NBGRADER=1; \
	( $(CHROMIUM); $(PYTHON) -m grader validate --jobs 1; v=$$?; \
	  MUTANT_JOBS=1 $(PYTHON) -m pytest -q $(SIDE_TESTS); m=$$?; \
	  test $$v -eq 0 && test $$m -eq 0 ) >"$$log" 2>&1 & side=$$!; \
	$(PYTHON) -m pytest $(addprefix --ignore=,$(SIDE_TESTS)); tests=$$?; \
	wait $$side; beside=$$?; \
	echo "--- grader validate, then $(SIDE_TESTS)"; cat "$$log"; rm -f "$$log"; \
	test $$tests -eq 0 && test $$beside -eq 0

bench: install
	$(PYTHON) benchmarks/bench_full_suite.py
	$(PYTHON) benchmarks/bench_grading.py
