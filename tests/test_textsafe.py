"""``grader.textsafe``: student text encoded for the terminal, CSV cells and file names."""

from __future__ import annotations

import unicodedata

import pytest
from hypothesis import given
from hypothesis import strategies as st

from grader.textsafe import MAX_FILENAME_BYTES, csv_cell, safe_filename, safe_filenames, terminal

ESC = "\x1b"


def _raw_controls(text: str) -> list[str]:
    """Characters a terminal could act on: C0, DEL, C1, format/bidi, line separators, surrogates."""
    return [ch for ch in text if unicodedata.category(ch) in {"Cc", "Cf", "Cs", "Zl", "Zp"}]


# -- terminal -------------------------------------------------------------------------------

@pytest.mark.parametrize(
    "raw, shown",
    [
        (f"{ESC}[31mred{ESC}[0m", "\\x1b[31mred\\x1b[0m"),  # CSI colour
        (f"{ESC}[2J{ESC}[H", "\\x1b[2J\\x1b[H"),  # clear the screen, cursor home
        (f"{ESC}]52;c;cm0gLXJm\x07", "\\x1b]52;c;cm0gLXJm\\x07"),  # OSC 52 clipboard write, BEL
        (f"{ESC}]52;c;cm0gLXJm{ESC}\\", "\\x1b]52;c;cm0gLXJm\\x1b\\"),  # ... ended by ST
        (f"{ESC}]8;;https://evil.example{ESC}\\here{ESC}]8;;{ESC}\\",
         "\\x1b]8;;https://evil.example\\x1b\\here\\x1b]8;;\\x1b\\"),  # OSC 8 hyperlink
        ("all wrong\rall right", "all wrong\\rall right"),  # carriage return overwrites the line
        ("\x9b2J", "\\x9b2J"),  # 8-bit CSI
        ("\x9d52;c;x\x9c", "\\x9d52;c;x\\x9c"),  # 8-bit OSC and ST
        ("abc\u202edcba", "abc\\u202edcba"),  # right-to-left override
        ("\u2066x\u2069\u200b\ufeff", "\\u2066x\\u2069\\u200b\\ufeff"),  # isolates, zero width, BOM
        ("a\x00b\x7f\x08", "a\\x00b\\x7f\\x08"),  # NUL, DEL, backspace
        ("tab\there", "tab\\there"),
        ("a\u2028b", "a\\u2028b"),  # line separator
        ("tag\U000e0041", "tag\\U000e0041"),  # invisible tag character
    ],
)
def test_terminal_escapes_every_control_family(raw, shown):
    assert terminal(raw) == shown
    assert not _raw_controls(terminal(raw))


def test_a_forged_row_stays_inside_the_message_on_one_line():
    message = "loss is 3\nalice   10/10   10/10\nALL TESTS PASSED"
    shown = terminal(message)
    assert "\n" not in shown and shown.count("ALL TESTS PASSED") == 1
    assert shown == "loss is 3\\nalice   10/10   10/10\\nALL TESTS PASSED"
    assert len(f"FAIL x (0/1): {shown}".splitlines()) == 1


@pytest.mark.parametrize(
    "text", ["plain text", "Zoë Müller, 名前, Ελένη, محمد", "x = a\\b + 1e-3 [2d]", "", "😀", "tolerance 1e-05·|expected|"],
)
def test_terminal_leaves_plain_text_alone(text):
    assert terminal(text) == text


def test_lone_surrogates_are_escaped_so_printing_cannot_fail():
    shown = terminal("bad\ud800")
    assert shown == "bad\\ud800"
    shown.encode("utf-8")


@given(st.text())
def test_terminal_never_lets_a_control_character_through(text):
    shown = terminal(text)
    assert not _raw_controls(shown) and len(shown.splitlines() or [""]) == 1
    if not _raw_controls(text) and "\u2065" not in text:  # U+2065: unassigned, escaped with its block
        assert shown == text


# -- CSV ------------------------------------------------------------------------------------

@pytest.mark.parametrize(
    "cell, guarded",
    [
        ("=1+1", "'=1+1"),
        ('=HYPERLINK("http://evil","x")', "'=HYPERLINK(\"http://evil\",\"x\")"),
        ("+1", "'+1"),
        ("-2+3", "'-2+3"),
        ("@SUM(A1:A2)", "'@SUM(A1:A2)"),
        ("\t=1", "'\t=1"),
        ("\r=1", "'\r=1"),
        ("\uff1d1+1", "'\uff1d1+1"),  # full-width equals sign
    ],
)
def test_csv_cells_that_start_a_formula_are_quoted(cell, guarded):
    assert csv_cell(cell) == guarded


@pytest.mark.parametrize("cell", ["alice", "", "1=1", "a-b", " =1", "'=1"])
def test_csv_cells_without_a_formula_start_are_unchanged(cell):
    assert csv_cell(cell) == cell


# -- file names -----------------------------------------------------------------------------

def _is_safe(name: str) -> bool:
    return (
        bool(name) and name not in (".", "..") and not name.startswith((".", "-"))
        and "/" not in name and "\\" not in name and not _raw_controls(name)
        and len(name.encode("utf-8")) <= MAX_FILENAME_BYTES
    )


@pytest.mark.parametrize(
    "name, safe",
    [
        ("..", "__"),
        (".", "_"),
        ("...", "___"),
        ("", "_"),
        (".bashrc", "_bashrc"),
        ("a/b", "a_b"),
        ("a\\b", "a_b"),
        ("../../etc/passwd", "___.._etc_passwd"),  # one component: the inner dots are harmless
        ("a\x00b", "a_b"),
        (f"x{ESC}[31m", "x__31m"),
        ("-rf", "_rf"),
        ("end.", "end_"),
        ("con", "con_"),
        ("alice_123", "alice_123"),
        ("jane.doe@uni.edu", "jane.doe@uni.edu"),
        ("Zoë Müller", "Zoë_Müller"),
        ("名前", "名前"),
    ],
)
def test_safe_filename(name, safe):
    assert safe_filename(name) == safe
    assert _is_safe(safe_filename(name))


def test_safe_filename_bounds_the_length_in_bytes():
    assert safe_filename("x" * 500) == "x" * MAX_FILENAME_BYTES
    long = safe_filename("é" * 500)  # two bytes each: never cut inside a character
    assert long == "é" * (MAX_FILENAME_BYTES // 2)


@given(st.text())
def test_safe_filename_is_always_one_harmless_component(name):
    safe = safe_filename(name)
    assert _is_safe(safe)
    assert safe_filename(safe) == safe


def test_safe_filenames_keep_ordinary_ids_and_separate_collisions():
    names = safe_filenames(["alice", "a/b", "a\\b", "a_b", "..", "x" * 500, "x" * 501])
    assert names["alice"] == "alice" and names["a_b"] == "a_b" and names[".."] == "__"
    assert names["a/b"].startswith("a_b-") and names["a\\b"].startswith("a_b-")
    assert len(set(names.values())) == len(names)
    assert all(_is_safe(n) for n in names.values())
    # stable: the suffix is a hash of the original id, not of its position
    assert safe_filenames(["a_b", "a\\b", "a/b"])["a/b"] == names["a/b"]


def test_safe_filenames_compare_without_case_unless_told():
    names = safe_filenames(["Alice", "alice"])
    assert names["Alice"] == "Alice" and names["alice"].startswith("alice-")
    assert safe_filenames(["Alice", "alice"], ignore_case=False) == {"Alice": "Alice", "alice": "alice"}


def test_safe_filenames_stay_distinct_even_against_a_forged_suffix():
    first = safe_filenames(["a/b", "a\\b"])
    forged = [first["a/b"], first["a\\b"], "a/b", "a\\b"]  # ids chosen to take the suffixed names
    names = safe_filenames(forged)
    assert len({n.casefold() for n in names.values()}) == 4
    assert names[first["a/b"]] == first["a/b"]


@given(st.lists(st.text(max_size=12), max_size=12))
def test_safe_filenames_are_distinct_and_safe(ids):
    names = safe_filenames(ids)
    assert set(names) == set(ids)
    assert len({n.casefold() for n in names.values()}) == len(names)
    assert all(_is_safe(n) for n in names.values())
