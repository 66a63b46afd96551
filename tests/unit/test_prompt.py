"""Prompt placeholders: rendering and resolution from a StageCommand dict."""

from __future__ import annotations

import pytest

from consumers.exceptions import PermanentActorError
from consumers.prompt import Placeholder, PromptError, placeholders, render, resolve

pytestmark = pytest.mark.unit

COMMAND = {
    "posting": {"posting_id": "p1", "title": "Nurse", "company": None, "description": "Night shifts.",
                "attributes": {"shift": "night"}},
    "outputs": {"summarize": "A nurse job."},
}


def test_render_fields_outputs_and_attributes():
    template = "T: {posting.title} C: {posting.company} S: {outputs.summarize} A: {posting.attributes.shift}"
    assert render(template, COMMAND) == "T: Nurse C:  S: A nurse job. A: night"


def test_other_braces_are_literal():
    template = 'Answer like {"value": 1} or {posting} or {other.x}: {posting.title}'
    assert render(template, COMMAND) == 'Answer like {"value": 1} or {posting} or {other.x}: Nurse'


@pytest.mark.parametrize("template, words", [
    ("{outputs.score}", "no output of stage 'score'"),
    ("{posting.salary}", "no field 'salary'"),
    ("{posting.attributes.team}", "no attribute 'team'"),
    ("{posting.attributes}", "no field 'attributes'"),
])
def test_missing_values_raise_prompt_error(template, words):
    with pytest.raises(PromptError, match=words):
        render(template, COMMAND)
    assert issubclass(PromptError, PermanentActorError)


def test_placeholders_in_order():
    found = placeholders("{posting.title} {outputs.summarize} {posting.attributes.shift} {posting.title}")
    assert [p.ref for p in found] == ["posting.title", "outputs.summarize", "posting.attributes.shift", "posting.title"]
    assert found[2] == Placeholder("posting", "attributes", "shift")


def test_resolve_refs():
    assert resolve("posting.description", COMMAND) == "Night shifts."
    assert resolve("outputs.summarize", COMMAND) == "A nurse job."
    with pytest.raises(PromptError, match="malformed"):
        resolve("description", COMMAND)


@pytest.mark.parametrize("title, description, name", [
    ("Pflegefachkraft", "Wir suchen eine Pflegefachkraft für unsere Station und das Team der Klinik.", "German"),
    ("Camarero", "Buscamos un camarero para la temporada de verano con experiencia en hostelería.", "Spanish"),
    ("Nurse", "We are looking for a nurse who will care for patients on the ward.", "English"),
    ("Helper", "Help needed.", "the language of the posting"),  # too short to tell
])
def test_posting_language_is_derived_from_title_and_description(title, description, name):
    assert render("Write it in {posting.language}.", {"posting": {"title": title, "description": description}}) == (
        f"Write it in {name}.")


def test_a_posting_field_named_language_wins_over_the_derived_one():
    command = {"posting": {"title": "Nurse", "description": "We are looking for a nurse for the ward.",
                           "language": "Welsh"}}
    assert render("{posting.language}", command) == "Welsh"
