"""LMS exports parse back with the same questions, texts and answers.

The readers here are small and independent of the writers: xml.etree for QTI and Moodle
XML, and a GIFT reader that follows Moodle's escaping rules. ``test_quiz_content`` reuses
them on every shipped quiz.
"""

from __future__ import annotations

import html
import re
import xml.etree.ElementTree as ET
import zipfile
from pathlib import Path

import pytest

from grader.quiz.export import ExportReport, collect, export_quiz, numeric_answer
from grader.quiz.export_moodle import snap
from grader.quiz.render import markdown_to_html
from grader.quiz.schema import load_quiz

QUIZ = load_quiz(Path(__file__).parent / "fixtures" / "quiz" / "basics.yaml")


@pytest.fixture(scope="module")
def cache(tmp_path_factory) -> Path:
    return tmp_path_factory.mktemp("quiz-build")


def plain(text: str) -> str:
    return " ".join(html.unescape(re.sub(r"<[^>]+>", " ", text)).split())


def _local(tag: str) -> str:
    return tag.rsplit("}", 1)[-1]


def read_qti(path: Path) -> dict[str, dict]:
    with zipfile.ZipFile(path) as archive:
        manifest = ET.fromstring(archive.read("imsmanifest.xml"))
        hrefs = [f.get("href") for f in manifest.iter() if _local(f.tag) == "file"]
        assert all(h in archive.namelist() for h in hrefs)
        assessment = ET.fromstring(archive.read(next(h for h in hrefs if not h.endswith("meta.xml"))))
    items = {}
    for item in assessment.iter():
        if _local(item.tag) != "item":
            continue
        fields = {}
        for f in item.iter():
            if _local(f.tag) == "qtimetadatafield":
                label, entry = [c.text for c in f]
                fields[label] = entry
        mattext = next(m for m in item.iter() if _local(m.tag) == "mattext")
        kind = fields["question_type"]
        equals = [e for e in item.iter() if _local(e.tag) == "varequal"]
        negated = {id(e) for n in item.iter() if _local(n.tag) == "not" for e in n}
        if kind == "numerical_question":
            answer = float(equals[0].text)
        elif kind == "multiple_answers_question":
            answer = sorted(e.text for e in equals if id(e) not in negated)
        else:
            answer = equals[0].text
        items[item.get("title")] = {"type": kind, "text": plain(mattext.text), "answer": answer,
                                    "points": float(fields["points_possible"])}
    return items


def read_moodle(path: Path) -> dict[str, dict]:
    root = ET.parse(path).getroot()
    assert root.tag == "quiz"
    items = {}
    for q in root.findall("question"):
        kind = q.get("type")
        if kind == "category":
            continue
        answers = q.findall("answer")
        if kind == "numerical":
            answer = float(answers[0].find("text").text)
        elif kind == "multichoice":
            answer = [(float(a.get("fraction")), plain(a.find("text").text)) for a in answers]
        else:
            answer = answers[0].find("text").text
        items[q.find("name/text").text] = {"type": kind, "text": plain(q.find("questiontext/text").text),
                                           "answer": answer, "points": float(q.find("defaultgrade").text)}
    return items


def _split_unescaped(text: str, chars: str) -> list[tuple[str, str]]:
    """Split at unescaped chars; returns (separator, part) pairs."""
    out, sep, buf, i = [], "", "", 0
    while i < len(text):
        ch = text[i]
        if ch == "\\" and i + 1 < len(text):
            buf += text[i:i + 2]
            i += 2
            continue
        if ch in chars:
            out.append((sep, buf))
            sep, buf = ch, ""
        else:
            buf += ch
        i += 1
    out.append((sep, buf))
    return out


def unescape_gift(text: str) -> str:
    return re.sub(r"\\(.)", lambda m: "\n" if m.group(1) == "n" else m.group(1), text).strip()


def read_gift(path: Path) -> dict[str, dict]:
    items = {}
    for block in re.split(r"\n\s*\n", path.read_text(encoding="utf-8")):
        lines = [ln for ln in block.splitlines() if ln.strip() and not ln.startswith("//")]
        if not lines or lines[0].startswith("$CATEGORY:"):
            continue
        source = " ".join(lines)
        match = re.match(r"::((?:\\.|[^:])*)::(?:\[markdown\])?(.*)$", source)
        assert match, source
        name, rest = unescape_gift(match.group(1)), match.group(2)
        parts = _split_unescaped(rest, "{}")
        text, body = parts[0][1], parts[1][1]
        if body.startswith("#"):
            value = body[1:].split(":")[0]
            answer = float(value)
        elif body.lstrip().startswith(("=", "~")) and ("~" in body or " =" in body):
            answer = []
            for sep, part in _split_unescaped(body, "=~")[1:]:
                weight = 100.0 if sep == "=" else 0.0
                m = re.match(r"%(-?[\d.]+)%", part)
                if m:
                    weight, part = float(m.group(1)), part[m.end():]
                answer.append((weight, unescape_gift(_split_unescaped(part, "#")[0][1])))
        else:
            answer = unescape_gift(body.lstrip()[1:])
        items[name] = {"text": unescape_gift(text), "answer": answer}
    return items


READERS = {"qti": read_qti, "moodle-xml": read_moodle, "gift": read_gift}


def check_round_trip(quiz, fmt: str, tmp_path: Path, variants: int = 3, cache=None) -> ExportReport:
    """Export ``quiz`` and check every exported item comes back with its text and answer."""
    target = tmp_path / f"{quiz.id}-{fmt}"
    report = export_quiz(quiz, fmt, target, variants, quiz.seed_salt, cache)
    pools = report.pools
    back = READERS[fmt](target)
    names = [item.name for pool in pools for item in pool.items]
    assert sorted(back) == sorted(names)
    for pool in pools:
        q = pool.question
        for item in pool.items:
            got = back[item.name]
            if fmt == "gift":
                assert got["text"] == item.text.strip()
            else:
                assert got["text"] == plain(markdown_to_html(item.text))
                assert got["points"] == q.points
            numeric = numeric_answer(item)
            if numeric:
                assert got["answer"] == pytest.approx(numeric[0], rel=1e-12)
            elif q.choices and fmt == "qti":
                assert got["answer"] == (q.correct_keys[0] if q.type == "multiple_choice" else list(q.correct_keys))
            elif q.choices:
                texts = [t for _, t in got["answer"]]
                assert texts == [c.text if fmt == "gift" else plain(markdown_to_html(c.text)) for c in q.choices]
                weights = [w for w, _ in got["answer"]]
                if q.type == "multiple_choice":
                    assert weights == [snap(100 * c.score) for c in q.choices]
                else:
                    assert [w > 0 for w in weights] == [c.correct for c in q.choices]
            else:
                assert got["answer"] == str(item.variant.expected).strip()
    skipped = {line.split("question '")[1].split("'")[0] for line in report.skipped}
    assert skipped | {p.question.id for p in pools} == {q.id for q in quiz.questions}
    return report


@pytest.mark.parametrize("fmt", ["qti", "moodle-xml", "gift"])
def test_fixture_round_trip(fmt, tmp_path, cache):
    report = check_round_trip(QUIZ, fmt, tmp_path, cache=cache)
    assert report.exported == 5
    assert any("grad-linear" in s and "symbolic" in s for s in report.skipped)
    assert any("softmax-vec" in s and "matrix" in s for s in report.skipped)


def test_pools_hold_distinct_variants(cache):
    pools = collect(QUIZ, "gift", 6, QUIZ.seed_salt, cache, ExportReport())
    ce = next(p for p in pools if p.question.id == "ce-uniform")
    assert len(ce.items) == 6 and len({i.variant.expected for i in ce.items}) == 6
    fixed = next(p for p in pools if p.question.id == "optimizer")
    assert [i.name for i in fixed.items] == ["optimizer"]


def test_gift_escaping(tmp_path):
    from grader.quiz.export_gift import escape

    assert escape("a=b {c}: ~d #e\nf") == "a\\=b \\{c\\}\\: \\~d \\#e\\nf"
    assert unescape_gift(escape("a=b {c}: ~d #e\nf")) == "a=b {c}: ~d #e\nf"
