"""The quality checks of consumers.quality and consumers.skill_filters and the contracts
that enforce them: the posting's language, names the posting does not contain (or
misspells), and skills that are the employer, the location, the title or a working
condition."""

from __future__ import annotations

import json

import pytest

from consumers.contracts import ContractViolation, build_contract, ref_values
from consumers.quality import detect_language, invented_names, same_language
from consumers.skill_filters import conditions_reason, identity_reason, identity_skills

pytestmark = pytest.mark.unit

EN = "We are looking for a nurse who will care for patients on our ward and work with the doctors."
DE = "Wir suchen eine Pflegefachkraft für unsere Station. Sie arbeiten mit den Ärzten und der Pflege im Team."
ES = "Buscamos un camarero para la temporada de verano. Tus tareas son atender a los clientes y servir las mesas."
FR = "Nous recherchons un vendeur pour notre boutique. Vous accueillez les clients et gérez la caisse avec le sourire."


@pytest.mark.parametrize("text, lang", [(EN, "en"), (DE, "de"), (ES, "es"), (FR, "fr")])
def test_detect_language(text, lang):
    assert detect_language(text) == lang


def test_detect_language_undecided_for_short_text():
    assert detect_language("Python, SQL, Docker") is None
    assert detect_language("") is None


def test_same_language_names_both_when_they_differ():
    assert same_language(EN, EN) is None
    assert same_language(DE, EN) == "the output is in 'de', the source text in 'en'"
    assert same_language("Python SQL", EN) is None  # undecided output: no verdict


POSTING = ("The Copper Kettle Cafe is hiring a barista in Dublin. You prepare espresso drinks, take orders at the "
           "till and keep the counter clean to HACCP standards.")


@pytest.mark.parametrize("summary", [
    "The Copper Kettle Cafe is hiring a barista in Dublin. Candidates need espresso and HACCP skills.",
    "A cafe in Dublin is hiring a barista. The barista prepares espresso drinks and keeps the counter clean.",
    "Looking for a barista who knows HACCP. Full-time work in Dublin with English-speaking customers.",
    "Baristas prepare espresso drinks. Experience with the till is needed.",
])
def test_summaries_naming_only_the_postings_names_pass(summary):
    assert invented_names(summary, POSTING) == []


@pytest.mark.parametrize("summary, name", [
    ("Chipotle is hiring a barista in Dublin. Candidates need espresso skills.", "Chipotle"),
    ("A barista is needed at Blue Bottle Coffee in Dublin. Espresso skills are required.", "Blue Bottle Coffee"),
    ("The cafe in Dublin is hiring a barista. Contact Emily Carter for details.", "Emily Carter"),
    ("Starbucks's Dublin cafe is hiring a barista. Espresso skills are needed.", "Starbucks's"),
    ("The cafe is hiring a barista in London. Espresso skills are needed.", "London"),
])
def test_invented_names_are_found(summary, name):
    assert any(name in found for found in invented_names(summary, POSTING))


def test_german_nouns_are_not_names_but_invented_companies_are():
    source = "Das Klinikum Nord sucht eine Pflegefachkraft für die Station in Hamburg."
    ok = "Das Klinikum Nord sucht eine Pflegefachkraft. Erfahrung im Schichtdienst und Teamfähigkeit sind wichtig."
    assert invented_names(ok, source) == []
    bad = "Die Helios Kliniken GmbH sucht eine Pflegefachkraft. Erfahrung im Schichtdienst ist wichtig."
    assert invented_names(bad, source)


def test_identity_reason_employer_location_title():
    kw = {"employer": "Northwind Analytics GmbH", "location": "Berlin, Germany (hybrid)",
          "title": "Senior Python Backend Engineer"}
    assert identity_reason("Northwind Analytics", **kw) == "the employer"
    assert identity_reason("GmbH", **kw) == "the employer"
    assert identity_reason("northwind", **kw) == "the employer"
    assert identity_reason("Berlin", **kw) == "the location"
    assert identity_reason("Senior Python Backend Engineer", **kw) == "the job title"
    assert identity_reason("Backend Engineer", **kw) == "the job title"
    assert identity_reason("Senior", **kw) == "the job title"
    assert identity_reason("Backend Engineers", **kw) == "the job title"  # plural of the title's words
    for skill in ("Python", "Backend", "PostgreSQL", "Apache Kafka", "Docker"):
        assert identity_reason(skill, **kw) is None, skill


def test_identity_skills_lists_each_with_its_reason():
    found = identity_skills(["SQL", "St. Mary's Hospital", "Columbus", "Registered Nurse"],
                            employer="St. Mary's Hospital", location="Columbus, OH", title="Registered Nurse")
    assert found == [("St. Mary's Hospital", "the employer"), ("Columbus", "the location"),
                     ("Registered Nurse", "the job title")]


def test_identity_reason_with_empty_fields_keeps_everything():
    assert identity_reason("Python") is None
    assert identity_reason("Python", employer="", location="", title="") is None


SKILLS = {"type": "json", "grounded_in": "posting.description",
          "exclude": {"employer": "posting.company", "location": "posting.location", "title": "posting.title"},
          "schema": {"type": "array", "minItems": 1, "maxItems": 8,
                     "items": {"type": "string", "minLength": 2, "maxLength": 40}}}
COMMAND = {"posting": {"title": "Data Engineer", "company": "Northwind Analytics", "location": "Berlin",
                       "description": "Northwind Analytics in Berlin needs a data engineer for Python and Kafka."}}


def test_skills_contract_drops_employer_location_and_title_after_decoding():
    contract = build_contract(SKILLS)
    refs = ref_values(contract, COMMAND)
    assert refs == {"posting.company": "Northwind Analytics", "posting.location": "Berlin",
                    "posting.title": "Data Engineer"}
    raw = json.dumps(["Northwind Analytics", "Berlin", "data engineer", "Python", "Kafka"])
    out = contract.check(raw, grounding=COMMAND["posting"]["description"], refs=refs)
    assert json.loads(out) == ["Python", "Kafka"]


def test_skills_contract_with_only_identity_items_breaks_min_items():
    contract = build_contract(SKILLS)
    with pytest.raises(ContractViolation, match="non-empty"):
        contract.check('["Northwind Analytics"]', grounding=COMMAND["posting"]["description"],
                       refs=ref_values(contract, COMMAND))


def test_skills_grammar_does_not_offer_identity_phrases():
    contract = build_contract(SKILLS)
    grammar = contract.grammar_for(COMMAND["posting"]["description"], ref_values(contract, COMMAND))
    assert '"Python"' in grammar or "Python" in grammar
    assert "Northwind" not in grammar and "Berlin" not in grammar


def test_ref_values_missing_optional_field_is_empty():
    contract = build_contract(SKILLS)
    assert ref_values(contract, {"posting": {"title": "X", "description": "y"}})["posting.company"] == ""


SUMMARY = {"type": "text", "sentences": 2, "language_of": "posting.description",
           "names_from": ["posting.title", "posting.company", "posting.location", "posting.description"]}
CAFE = {"posting": {"title": "Barista", "company": "The Copper Kettle Cafe", "location": "Dublin",
                    "description": POSTING}}


def test_summary_contract_refuses_invented_employer_and_other_language():
    contract = build_contract(SUMMARY)
    refs = ref_values(contract, CAFE)
    good = "The Copper Kettle Cafe is hiring a barista in Dublin. The barista needs espresso and HACCP skills."
    assert contract.check(good, refs=refs) == good
    with pytest.raises(ContractViolation, match="names 'Chipotle'"):
        contract.check("Chipotle is hiring a barista in Dublin. The barista needs espresso skills.", refs=refs)
    with pytest.raises(ContractViolation, match="language"):
        contract.check("Wir suchen einen Barista für das Cafe in Dublin. Sie arbeiten mit der Kasse und dem Team.",
                       refs=refs)


def test_exclude_rejects_unknown_kinds():
    from consumers.exceptions import WorkflowError

    with pytest.raises(WorkflowError, match="exclude"):
        build_contract({**SKILLS, "exclude": {"salary": "posting.title"}})


def test_grounded_phrases_hold_no_clause():
    from consumers.grounding import phrases

    found = phrases("The Copper Kettle Cafe is hiring a barista. Latte art and HACCP standards. EUR 13.50 per hour.")
    assert "latte art" in [p.lower() for p in found] and "HACCP standards" in found
    assert not [p for p in found if "is hiring" in p or p.startswith("13")]


@pytest.mark.parametrize("item", ["Full-time", "part time", "Evenings and weekends", "Monday to Friday",
                                  "Two-shift operation", "overtime available", "Commission only", "bonus",
                                  "free snacks", "Seasonal", "Vollzeit", "Jornada completa", "CDI", "temps plein"])
def test_conditions_reason_names_hours_contract_pay_and_perks(item):
    assert conditions_reason(item) == "working conditions"


@pytest.mark.parametrize("item", ["time management", "Schichtdienst", "Python", "customer service",
                                  "forklift licence", "Excel", "payroll"])
def test_conditions_reason_keeps_skills(item):
    assert conditions_reason(item) is None


CONDITIONS = {**SKILLS, "exclude": {**SKILLS["exclude"], "conditions": True}}
SHOP = {"posting": {"title": "Sales Assistant", "company": "Bookshop", "location": "York",
                    "description": "Full-time, evenings and weekends. Customer service and till experience."}}


def test_skills_contract_with_conditions_drops_them_from_grammar_and_output():
    contract = build_contract(CONDITIONS)
    refs = ref_values(contract, SHOP)
    text = SHOP["posting"]["description"]
    grammar = contract.grammar_for(text, refs)
    assert "Customer" in grammar and "till" in grammar
    assert "Full" not in grammar and "evenings" not in grammar and "weekends" not in grammar
    out = contract.check(json.dumps(["Full-time", "Customer service", "evenings"]), grounding=text, refs=refs)
    assert json.loads(out) == ["Customer service"]
    # without it, the same items stay (the option is what removes them)
    plain = build_contract(SKILLS)
    kept = plain.check(json.dumps(["Full-time", "Customer service"]), grounding=text, refs=refs)
    assert json.loads(kept) == ["Full-time", "Customer service"]


def test_exclude_conditions_must_be_a_boolean():
    from consumers.exceptions import WorkflowError

    with pytest.raises(WorkflowError, match="conditions"):
        build_contract({**SKILLS, "exclude": {**SKILLS["exclude"], "conditions": "yes"}})


def test_grounded_phrases_end_on_a_number_only_after_a_name():
    from consumers.grounding import phrases

    found = phrases("Shifts early 6 or late 14 22. Work to ISO 9001 with an NVQ Level 3. Help customers with tasks.")
    assert {"ISO 9001", "NVQ Level 3"} <= set(found)
    assert not {"early 6", "late 14", "late 14 22", "Help customers", "tasks"} & set(found)


def test_everyday_reason_takes_frequent_lowercase_single_words_of_the_language():
    from consumers.skill_filters import everyday_reason

    for word in ("work", "data", "support", "money"):
        assert everyday_reason(word, "en") == "an everyday word", word
    # specialised words, capitalised words, acronyms, phrases and numbers are never one
    for item in ("espresso", "inventory", "carpentry", "Excel", "SQL", "Work", "customer support", "5s"):
        assert everyday_reason(item, "en") is None, item
    assert everyday_reason("trabajo", "es") == "an everyday word"
    assert everyday_reason("trabajo", "xx") is None  # an unknown language falls back to English


EVERYDAY = {**SKILLS, "exclude": {**SKILLS["exclude"], "everyday": True},
            "schema": {**SKILLS["schema"], "minItems": 0}}
FACTORY = {"posting": {"title": "Operative", "company": "Acme", "location": "Hull",
                       "description": "Production work on the line. Forklift licence and HACCP welcome."}}


def test_everyday_words_are_offered_by_the_grammar_and_dropped_after_decoding():
    contract = build_contract(EVERYDAY)
    text, refs = FACTORY["posting"]["description"], ref_values(contract, FACTORY)
    grammar = contract.grammar_for(text, refs)
    # offered all the same (taken out, the model writes a phrase around them instead)
    without = {**EVERYDAY, "exclude": SKILLS["exclude"]}
    assert grammar == build_contract(without).grammar_for(text, refs) and '"ork"' in grammar
    out = contract.check(json.dumps(["work", "Forklift licence", "line", "HACCP"]), grounding=text, refs=refs)
    assert json.loads(out) == ["Forklift licence", "HACCP"]
    # only everyday words: minItems 0 makes that an empty list, not a broken contract
    assert json.loads(contract.check('["work", "line"]', grounding=text, refs=refs)) == []
    from consumers.exceptions import WorkflowError

    with pytest.raises(WorkflowError, match="everyday"):
        build_contract({**EVERYDAY, "exclude": {"everyday": "yes"}})


def test_a_grounded_list_grammar_asks_for_one_item_even_with_min_items_0():
    """A small model offered "[]" wrote it for every posting: the grammar never offers it
    (an empty list comes from the check); before, minItems 0 put "[]" in the grammar."""
    grammar = build_contract(EVERYDAY).grammar_for(FACTORY["posting"]["description"])
    assert grammar.splitlines()[0] == 'root ::= "[" item (", " item){0,7} "]"'
    assert build_contract(EVERYDAY).grammar_for("") == 'root ::= "[]"\n'


def test_a_name_one_or_two_letters_off_the_postings_is_respelt_not_refused():
    from consumers.quality import respell_names

    source = "Die Datenwerk GmbH sucht einen Softwareentwickler in München. Wir arbeiten mit Java."
    assert respell_names("Datawerk GmbH sucht einen Entwickler.", source) == "Datenwerk GmbH sucht einen Entwickler."
    assert respell_names("Dataworks sucht Entwickler.", source) == "Dataworks sucht Entwickler."  # 4 edits: another name
    assert respell_names("Danke, Daten sind wichtig.", source) == "Danke, Daten sind wichtig."  # words, not names
    contract = build_contract({"type": "text", "names_from": ["posting.company", "posting.description"]})
    refs = {"posting.company": "Datenwerk GmbH", "posting.description": source}
    summary = "Die Datawerk GmbH sucht einen Softwareentwickler in München. Sie arbeiten mit Java und Spring."
    assert contract.check(summary, refs=refs) == summary.replace("Datawerk", "Datenwerk")
    with pytest.raises(ContractViolation, match="names 'Dataworks'"):
        contract.check(summary.replace("Datawerk", "Dataworks"), refs=refs)
