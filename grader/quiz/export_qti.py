"""Canvas QTI 1.2: a zip with ``imsmanifest.xml`` and one assessment, in text2qti's layout.

A pool of variants is a ``<section>`` whose ``selection_number`` is 1, so Canvas draws one
variant per student. Numeric answers accept the exact value or the range
``[value - margin, value + margin]``.
"""

from __future__ import annotations

import xml.etree.ElementTree as ET
import zipfile
from pathlib import Path

from grader.quiz.export import Item, Pool, numeric_answer
from grader.quiz.model import Quiz
from grader.quiz.render import markdown_to_html

QTI_NS = "http://www.imsglobal.org/xsd/ims_qtiasiv1p2"
CP_NS = "http://www.imsglobal.org/xsd/imsccv1p1/imscp_v1p1"


def _sub(parent: ET.Element, tag: str, text: str | None = None, **attrs: str) -> ET.Element:
    node = ET.SubElement(parent, tag, attrs)
    if text is not None:
        node.text = text
    return node


def _metadata(parent: ET.Element, fields: dict[str, str]) -> None:
    meta = _sub(parent, "qtimetadata")
    for label, entry in fields.items():
        f = _sub(meta, "qtimetadatafield")
        _sub(f, "fieldlabel", label)
        _sub(f, "fieldentry", entry)


def _num(x: float) -> str:
    return repr(float(x))


def _item(section: ET.Element, item: Item) -> None:
    q = item.question
    numeric = numeric_answer(item)
    kind = ("numerical_question" if numeric else "multiple_choice_question" if q.type == "multiple_choice"
            else "multiple_answers_question" if q.type == "multi_select" else "short_answer_question")
    node = _sub(section, "item", ident=item.name.replace(" ", "_"), title=item.name)
    _metadata(_sub(node, "itemmetadata"), {"question_type": kind, "points_possible": f"{q.points:g}"})
    pres = _sub(node, "presentation")
    _sub(_sub(pres, "material"), "mattext", markdown_to_html(item.text), texttype="text/html")
    proc = _sub(node, "resprocessing")
    _sub(_sub(proc, "outcomes"), "decvar", maxvalue="100", minvalue="0", varname="SCORE", vartype="Decimal")
    condition = _sub(proc, "respcondition", **{"continue": "No"})
    cond = _sub(condition, "conditionvar")
    if q.type in ("multiple_choice", "multi_select"):
        card = "Single" if q.type == "multiple_choice" else "Multiple"
        choice = _sub(_sub(pres, "response_lid", ident="response1", rcardinality=card), "render_choice")
        for c in q.choices:
            label = _sub(choice, "response_label", ident=c.key)
            _sub(_sub(label, "material"), "mattext", markdown_to_html(c.text), texttype="text/html")
        if q.type == "multiple_choice":
            _sub(cond, "varequal", q.correct_keys[0], respident="response1")
        else:
            both = _sub(cond, "and")
            for c in q.choices:
                target = both if c.correct else _sub(both, "not")
                _sub(target, "varequal", c.key, respident="response1")
    else:
        fib = _sub(_sub(pres, "response_str", ident="response1", rcardinality="Single"), "render_fib",
                   fibtype="Decimal" if numeric else "String")
        _sub(fib, "response_label", ident="answer1")
        if numeric:
            value, margin = numeric
            either = _sub(cond, "or")
            _sub(either, "varequal", _num(value), respident="response1")
            rng = _sub(either, "and")
            _sub(rng, "vargte", _num(value - margin), respident="response1")
            _sub(rng, "varlte", _num(value + margin), respident="response1")
        else:
            _sub(cond, "varequal", str(item.variant.expected).strip(), respident="response1")
    _sub(condition, "setvar", "100", action="Set", varname="SCORE")


def assessment_xml(quiz: Quiz, pools: list[Pool]) -> bytes:
    root = ET.Element("questestinterop", xmlns=QTI_NS)
    assessment = _sub(root, "assessment", ident=quiz.id, title=quiz.title)
    _metadata(assessment, {"cc_maxattempts": "1"})
    top = _sub(assessment, "section", ident="root_section")
    for pool in pools:
        if len(pool.items) == 1 and not pool.question.params:
            _item(top, pool.items[0])
            continue
        section = _sub(top, "section", ident=f"pool-{pool.question.id}", title=pool.question.id)
        selection = _sub(_sub(section, "selection_ordering"), "selection")
        _sub(selection, "selection_number", "1")
        _sub(_sub(selection, "selection_extension"), "points_per_item", f"{pool.question.points:g}")
        for item in pool.items:
            _item(section, item)
    return ET.tostring(root, encoding="utf-8", xml_declaration=True)


def manifest_xml(quiz: Quiz) -> bytes:
    root = ET.Element("manifest", identifier=f"{quiz.id}-manifest", xmlns=CP_NS)
    _sub(_sub(root, "metadata"), "schema", "IMS Content")
    _sub(root, "organizations")
    resources = _sub(root, "resources")
    res = _sub(resources, "resource", identifier=quiz.id, type="imsqti_xmlv1p2")
    _sub(res, "file", href=f"{quiz.id}/{quiz.id}.xml")
    _sub(res, "dependency", identifierref=f"{quiz.id}-meta")
    meta = _sub(resources, "resource", identifier=f"{quiz.id}-meta",
                type="associatedcontent/imscc_xmlv1p1/learning-application-resource",
                href=f"{quiz.id}/assessment_meta.xml")
    _sub(meta, "file", href=f"{quiz.id}/assessment_meta.xml")
    return ET.tostring(root, encoding="utf-8", xml_declaration=True)


def meta_xml(quiz: Quiz) -> bytes:
    root = ET.Element("quiz", identifier=quiz.id, xmlns="http://canvas.instructure.com/xsd/cccv1p0")
    _sub(root, "title", quiz.title)
    _sub(root, "points_possible", f"{quiz.max_points:g}")
    _sub(root, "shuffle_answers", "false")
    _sub(root, "quiz_type", "assignment")
    return ET.tostring(root, encoding="utf-8", xml_declaration=True)


def write(quiz: Quiz, pools: list[Pool], target: Path) -> None:
    with zipfile.ZipFile(target, "w", zipfile.ZIP_DEFLATED) as archive:
        archive.writestr("imsmanifest.xml", manifest_xml(quiz))
        archive.writestr("non_cc_assessments/", b"")
        archive.writestr(f"{quiz.id}/assessment_meta.xml", meta_xml(quiz))
        archive.writestr(f"{quiz.id}/{quiz.id}.xml", assessment_xml(quiz, pools))
