"""A grounded list names each thing once (consumers.grounding.distinct): the redundant
pairs qwen wrote for the evaluation set ("Illustrator" beside "Adobe Illustrator", "QTS"
beside "Qualified Teacher Status", "log tickets in Zendesk" beside "Zendesk")."""

from __future__ import annotations

import json

import pytest

from consumers.contracts import build_contract
from consumers.grounding import distinct, ground

pytestmark = pytest.mark.unit

DESIGNER = ("Pixel & Paper is looking for a graphic designer for packaging and print work. Adobe Illustrator and "
            "InDesign are a must; some After Effects is nice.")
TEACHER = "Qualified Teacher Status (QTS) and an enhanced DBS check are required."
SUPPORT = "You troubleshoot connection problems, log tickets in Zendesk and handle complaints calmly."


@pytest.mark.parametrize("items, text, expected", [
    (["Illustrator", "InDesign", "Adobe Illustrator"], DESIGNER, ["Adobe Illustrator", "InDesign"]),
    (["QTS", "enhanced DBS check", "Qualified Teacher Status"], TEACHER,
     ["Qualified Teacher Status", "enhanced DBS check"]),
    (["log tickets in Zendesk", "handle complaints calmly", "Zendesk", "complaints"], SUPPORT,
     ["Zendesk", "complaints"]),
    (["geometry", "calculus", "geometry and calculus"], "covering algebra, geometry and calculus",
     ["geometry", "calculus"]),
    (["HR software", "software"], "CloudNest sells HR software to mid-sized companies.", ["HR software"]),
    (["Excel", "excel", "EXCEL"], "fluent in Excel", ["Excel"]),
])
def test_an_item_that_repeats_another_goes(items, text, expected):
    assert distinct(items, text) == expected


def test_two_skills_where_one_holds_the_other_stay_when_the_text_names_both():
    text = "You build apps in React and React Native and know SAP as well as SAP PM."
    assert distinct(["React", "React Native", "SAP", "SAP PM"], text) == ["React", "React Native", "SAP", "SAP PM"]


def test_an_acronym_stays_when_the_text_does_not_spell_it_out_as_the_other_item():
    text = "Qualified Teacher Status and a DBS check (DBS) are required; QTS training is given."
    assert distinct(["QTS", "Qualified Teacher Status"], text) == ["QTS", "Qualified Teacher Status"]


def test_grounding_a_list_names_each_thing_once():
    assert ground(["Illustrator", "Adobe Illustrator", "Photoshop"], DESIGNER) == ["Adobe Illustrator"]


def test_the_skills_contract_returns_each_skill_once():
    contract = build_contract({"type": "json", "grounded_in": "posting.description",
                               "schema": {"type": "array", "items": {"type": "string"}}})
    raw = json.dumps(["QTS", "Qualified Teacher Status", "enhanced DBS check", "DBS check"])
    assert json.loads(contract.check(raw, grounding=TEACHER)) == ["Qualified Teacher Status", "enhanced DBS check"]
