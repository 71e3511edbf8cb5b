"""The report site in a real browser: headless Chromium loads each kind of page without a
console error, the plots are there and not empty, and the tables sort when a header is
clicked. Skipped, with the reason, where no Chromium is installed (Debian: `apt-get
install chromium`; `make test` installs it where it can)."""

from __future__ import annotations

import re
import shutil
import subprocess

import pytest

from grader.site import build_site
from tests.test_site import _doc

CHROMIUM = next((shutil.which(n) for n in ("chromium", "chromium-browser", "google-chrome") if shutil.which(n)), None)
pytestmark = pytest.mark.skipif(CHROMIUM is None, reason="no Chromium on this machine (apt-get install chromium)")


def _load(path, tmp_path):
    """The DOM after the page's scripts ran, and what the page wrote to the console."""
    proc = subprocess.run(
        [CHROMIUM, "--headless", "--no-sandbox", "--disable-gpu", "--enable-logging=stderr", "--v=0",
         f"--user-data-dir={tmp_path / 'profile'}", "--dump-dom", path.as_uri()],
        capture_output=True, text=True, timeout=120)
    console = [line for line in proc.stderr.splitlines() if ":CONSOLE" in line]
    return proc.stdout, console


@pytest.fixture(scope="module")
def site(tmp_path_factory):
    root = tmp_path_factory.mktemp("site")
    quiz = {"students": [{"student": "ann", "quiz": "warmup", "earned": 1.0, "max_points": 1.0, "answers": [
        {"question": "q1", "type": "multiple_choice", "points": 1.0, "given": "a", "parsed": "a", "score": 1.0,
         "earned": 1.0, "format_error": None}]}]}
    build_site(_doc(20), root, [quiz])
    return root


@pytest.mark.parametrize("page", ["index.html", "tests.html", "capstone.html", "quiz-warmup.html", "students/ann.html"])
def test_pages_load_without_console_errors(site, tmp_path, page):
    dom, console = _load(site / page, tmp_path)
    assert console == [], console
    assert re.search(r"<html lang=\"en\"", dom) and "<h1>" in dom and "<th" in dom
    if page in ("index.html", "capstone.html"):
        plots = re.findall(r"<svg.*?</svg>", dom, re.S)
        drawn = [p for p in plots if "<polyline" in p or any(
            float(h) > 0 for h in re.findall(r"<rect [^>]*?height=\"([0-9.]+)\" fill=\"#1f5fbf\"", p))]
        assert plots and drawn == plots  # each plot draws something: a bar of some height, or a line


def test_clicking_a_header_sorts_the_table(site, tmp_path):
    index = (site / "index.html").read_text(encoding="utf-8")
    # click "total" twice (ascending, then descending) once the page's own script has run
    probe = index.replace("</body>", "<script>var th = [].slice.call(document.querySelectorAll('table.sortable')"
                                     ").pop().tHead.rows[0].cells; var total = th[th.length - 2]; total.click(); "
                                     "total.click();</script></body>")
    (site / "probe.html").write_text(probe, encoding="utf-8")
    dom, console = _load(site / "probe.html", tmp_path)
    assert console == []
    table = dom[dom.rindex("<table class=\"sortable\""):]
    totals = [float(v) for v in re.findall(r"<td class=\"num\" data-v=\"([-0-9.]+)\">[^<]*</td><td class=\"num\">\d+",
                                           table)]
    assert len(totals) == 23 and totals == sorted(totals, reverse=True)
