"""Student-controlled text, encoded for where it goes: a terminal, a CSV cell, a file name.

Every string a submission controls (its exception messages and type names, its folder
or zip name, what a notebook holds) reaches people through the grader's reports. Each
destination has its own way to be abused, and its own encoding here:

- :func:`terminal`: control characters shown as visible escapes (``\\x1b``, ``\\n``,
  ``\\u202e``), never interpreted, so a message cannot clear the screen, recolour or
  overwrite a line, write the clipboard (OSC 52), plant a hyperlink (OSC 8), reorder
  text (bidi overrides) or start a forged row of the table on a line of its own.
- :func:`csv_cell`: OWASP's rule against CSV (formula) injection: a cell that a
  spreadsheet would read as a formula gets a leading ``'``.
- :func:`safe_filename` and :func:`safe_filenames`: one path component that is never
  ``.``, ``..``, empty or hidden, holds no separator or control character and is of
  bounded length; the second maps a collection of ids to names that stay distinct.

All functions are pure.
"""

from __future__ import annotations

import hashlib
import re
import unicodedata
from typing import Iterable

__all__ = ["terminal", "csv_cell", "safe_filename", "safe_filenames", "MAX_FILENAME_BYTES"]

# -- terminal -------------------------------------------------------------------------------

# Unicode categories never shown as themselves: controls (C0, DEL, C1), format characters
# (zero-width and bidi controls, the byte-order mark, tag characters), lone surrogates
# (which would make writing the text fail) and the line and paragraph separators.
_HIDDEN_CATEGORIES = frozenset({"Cc", "Cf", "Cs", "Zl", "Zp"})
# Named explicitly too, so the set does not depend on the Unicode version Python ships
# (U+2065 is unassigned today).
_HIDDEN_RANGES = ((0x00, 0x1F), (0x7F, 0x9F), (0x200B, 0x200F), (0x2028, 0x202E), (0x2060, 0x206F), (0xFEFF, 0xFEFF))
_NAMED = {"\n": "\\n", "\r": "\\r", "\t": "\\t"}
_CANDIDATE = re.compile(r"[^\x20-\x7e]")  # printable ASCII never needs a second look


def _hidden(ch: str) -> bool:
    code = ord(ch)
    if any(lo <= code <= hi for lo, hi in _HIDDEN_RANGES):
        return True
    return unicodedata.category(ch) in _HIDDEN_CATEGORIES


def _escape(ch: str) -> str:
    if ch in _NAMED:
        return _NAMED[ch]
    code = ord(ch)
    if code <= 0xFF:
        return f"\\x{code:02x}"
    if code <= 0xFFFF:
        return f"\\u{code:04x}"
    return f"\\U{code:08x}"


def _visible(match: re.Match[str]) -> str:
    ch = match.group()
    return _escape(ch) if _hidden(ch) else ch


def terminal(text: str) -> str:
    """``text`` safe to print: every control character as a visible escape.

    C0 controls (``\\n``, ``\\r`` and ``\\t`` by name, the rest as ``\\x1b``), DEL, C1
    controls (``\\x9b``), format and bidi controls (``\\u200b``, ``\\u202e``,
    ``\\ufeff``), the line and paragraph separators and lone surrogates are escaped;
    everything else, non-ASCII letters included, is unchanged. The result is one line
    that no terminal interprets. A backslash is left as it is, so an escape the student
    typed reads the same as one this function wrote: both are plainly text.
    """
    return _CANDIDATE.sub(_visible, str(text))


# -- CSV ------------------------------------------------------------------------------------

# OWASP: a cell starting with one of these is read as a formula (or, for tab and carriage
# return, becomes one once a spreadsheet trims it). The full-width forms are read as
# formulas too by spreadsheets in some locales.
_FORMULA_START = frozenset("=+-@\t\r\uff1d\uff0b\uff0d\uff20")


def csv_cell(text: str) -> str:
    """``text`` as a CSV cell no spreadsheet evaluates: a leading ``'`` before a formula start.

    For student-controlled text cells (ids, messages) only; numbers the grader computes
    are written as they are, so ``-1.5`` stays a number.
    """
    text = str(text)
    return "'" + text if text[:1] in _FORMULA_START else text


# -- file names -----------------------------------------------------------------------------

MAX_FILENAME_BYTES = 100  # in UTF-8; leaves room for a suffix and an extension under 255
_KEPT_PUNCTUATION = frozenset("._-@+")
# Names Windows reserves for devices, with any extension: a folder copied there breaks.
_WINDOWS_DEVICES = frozenset(
    ["con", "prn", "aux", "nul"] + [f"com{i}" for i in range(1, 10)] + [f"lpt{i}" for i in range(1, 10)]
)
_HASH_HEX = 8


def _kept(ch: str) -> bool:
    return ch in _KEPT_PUNCTUATION or unicodedata.category(ch)[0] in "LMN"


def _truncate(name: str, limit: int) -> str:
    data = name.encode("utf-8")
    if len(data) <= limit:
        return name
    return data[:limit].decode("utf-8", errors="ignore")


def safe_filename(name: str) -> str:
    """``name`` as a single, harmless path component.

    Letters and digits (any script) and ``. _ - @ +`` are kept; every other character
    (``/``, ``\\``, controls, spaces, quotes, ...) becomes ``_``. A leading ``.`` or
    ``-`` (a hidden file, an option to the next shell command) and a trailing ``.``
    become ``_`` too, so the result is never ``.``, ``..`` or empty; a Windows device
    name (``con``, ``nul.txt``) gets a trailing ``_``; at most
    :data:`MAX_FILENAME_BYTES` bytes of UTF-8 are kept. Different names can give the
    same result: use :func:`safe_filenames` where names must stay apart.
    """
    text = unicodedata.normalize("NFC", str(name))
    cleaned = "".join(ch if _kept(ch) else "_" for ch in text)
    cleaned = _truncate(cleaned, MAX_FILENAME_BYTES)
    stripped = cleaned.lstrip(".-")
    cleaned = "_" * (len(cleaned) - len(stripped)) + stripped
    stripped = cleaned.rstrip(".")
    cleaned = stripped + "_" * (len(cleaned) - len(stripped))
    if not cleaned:
        return "_"
    if cleaned.split(".", 1)[0].lower() in _WINDOWS_DEVICES:
        cleaned += "_"
    return cleaned


def _digest(name: str, attempt: int) -> str:
    data = name.encode("utf-8", errors="surrogatepass")
    if attempt:
        data += f"\x00{attempt}".encode()
    return hashlib.sha256(data).hexdigest()[:_HASH_HEX]


def _suffixed(clean: str, digest: str) -> str:
    return f"{_truncate(clean, MAX_FILENAME_BYTES - len(digest) - 1).rstrip('.')}-{digest}"


def safe_filenames(names: Iterable[str], *, ignore_case: bool = True) -> dict[str, str]:
    """A distinct safe file name for each of ``names``: ``{name: file name}``.

    A name that is already safe keeps itself, and a name that is not gets its
    :func:`safe_filename`, unless that is taken or shared: then ``-`` and a short hash
    of the original name is appended (stable from run to run). Names already safe come
    first, so ``a_b`` stays ``a_b`` beside ``a/b``, which becomes ``a_b-<hash>``.
    Distinctness is guaranteed (a suffixed name that would still clash is hashed again)
    and, with ``ignore_case``, holds where file names are compared without case (macOS,
    Windows); pass ``ignore_case=False`` for names that already are distinct folders of
    a case-sensitive file system.
    """
    def key(name: str) -> str:
        return name.casefold() if ignore_case else name

    unique = list(dict.fromkeys(str(n) for n in names))
    clean = {raw: safe_filename(raw) for raw in unique}
    shared: dict[str, int] = {}
    for c in clean.values():
        shared[key(c)] = shared.get(key(c), 0) + 1
    out: dict[str, str] = {}
    taken: set[str] = set()

    def claim(raw: str, name: str) -> None:
        out[raw] = name
        taken.add(key(name))

    for raw in unique:  # already safe: keeps its name unless an earlier one has it
        if clean[raw] == raw and key(raw) not in taken:
            claim(raw, raw)
    for raw in unique:  # cleaned: keeps the cleaned name when no other name cleans to it
        if raw not in out and clean[raw] != raw and shared[key(clean[raw])] == 1:
            claim(raw, clean[raw])
    for raw in unique:
        if raw in out:
            continue
        attempt = 0
        candidate = _suffixed(clean[raw], _digest(raw, attempt))
        while key(candidate) in taken:
            attempt += 1
            candidate = _suffixed(clean[raw], _digest(raw, attempt))
        claim(raw, candidate)
    return out
