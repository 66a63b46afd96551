"""What a list of skills may not hold (pure Python, no model):

- :func:`identity_reason`: items that are the employer, the location, words of the job
  title alone ("Northwind Analytics", "Berlin", "Senior Engineer", "CNC" of "a CNC
  machinist") or a person ("caring people", "electrician for domestic").
- :func:`conditions_reason`: working conditions, not skills: hours, shifts, days,
  contract, pay and perks ("Full-time", "Evenings and weekends", "CDI").
- :func:`traits_reason`: personal traits and hype ("motivated", "kind and patient").
- :func:`description_reason`: an English item that ends in an adjective or adverb
  ("helpful", "overhead cranes safely"; parts of speech from ``lemminflect``).
- :func:`everyday_reason`: one-word everyday words of the posting's language ("work",
  "data", "support"; word frequencies from ``wordfreq``).

:class:`consumers.json_contract.JsonContract` applies them (``exclude``).
"""

from __future__ import annotations

import functools
import re
from typing import Iterable

from consumers.quality import ORG_SUFFIXES, SENTENCE_END, fold, wordfreq_language, words


_ROLE_WORDS = frozenset("""
engineer engineers developer developers programmer nurse nurses manager managers assistant assistants
technician technicians driver drivers clerk officer specialist analyst consultant representative rep
associate cashier cook chef teacher teachers tutor electrician plumber carpenter welder mechanic
accountant bookkeeper controller auditor senior junior lead head principal chief intern internship trainee
machinist hygienist operative journeyman practitioner
apprentice worker workers operator coordinator supervisor administrator admin designer architect scientist
agent advisor adviser receptionist waiter waitress server bartender barista housekeeper cleaner
caregiver carer therapist pharmacist physician doctor paramedic dispatcher planner buyer merchandiser
salesperson executive director staff member m w d f h
ingenieur ingenieurin entwickler entwicklerin pflegefachkraft krankenpfleger fachkraft mitarbeiter
mitarbeiterin leiter leiterin verkäufer verkäuferin elektriker koch köchin lehrer lehrerin
enfermero enfermera desarrollador desarrolladora camarero camarera cocinero vendedor vendedora profesor
ingénieur développeur développeuse infirmier infirmière serveur serveuse vendeur vendeuse enseignant
""".split())
#: A legal form of consumers.quality.ORG_SUFFIXES, dots allowed between its letters ("S.A.").
_LEGAL = re.compile(r"\b(" + "|".join(r"\.?".join(map(re.escape, form)) for form in sorted(ORG_SUFFIXES))
                    + r")\b\.?", re.I)


def _norm(text: str) -> str:
    return " ".join(fold(w) for w in words(text))


def _singular(word: str) -> str:
    """"workers" -> "worker" (a plural names the same job)."""
    return word[:-1] if len(word) > 3 and word.endswith("s") and not word.endswith("ss") else word


def _contains(haystack: str, needle: str) -> bool:
    return bool(needle) and f" {needle} " in f" {haystack} "


#: People a posting serves or hires ("caring people", "delays with customers"): a list item
#: ending in one of these names people, not a skill.
_PEOPLE_WORDS = frozenset("""
people person staff team employee candidate applicant operative machinist hygienist helper
customer guest resident patient client child children student pupil company
cliente kunde kunden
""".split())
_ROLE_OR_PEOPLE = _ROLE_WORDS | _PEOPLE_WORDS
_GERMAN_ROLES = ("entwickler", "entwicklerin", "fachkraft", "mitarbeiter", "mitarbeiterin", "leiter", "leiterin",
                 "ingenieur", "ingenieurin", "berater", "beraterin", "techniker", "technikerin", "kaufmann", "kauffrau")
#: Role words that also name things ("SQL Server", "device driver"): they name the job
#: only when the title holds them.
_AMBIGUOUS_ROLES = frozenset("server agent controller driver operator".split())
_PREPOSITIONS = frozenset("for of at in with to pour de für bei para en".split())


def _names_person(item_words: list[str], title_words: set[str], text: str = "") -> bool:
    """Whether the item names a person: it ends in a role or people word ("warehouse
    operatives", "field sales rep") or holds one followed by a preposition ("electrician
    for domestic", "logistics coordinator to plan", and with a title word that names the
    job in ``text``: "decorator for interior")."""
    def role(word: str) -> bool:
        forms = {word, _singular(word), word[:-3] + "y" if word.endswith("ies") else word}
        if forms & _AMBIGUOUS_ROLES:
            return bool(forms & title_words)
        if _singular(word) in title_words and _names_a_job(_singular(word), text):
            return True
        # German compounds end in their role word ("Softwareentwickler", "Pflegefachkraft")
        compound = any(len(word) > len(r) + 2 and word.endswith(r) for r in _GERMAN_ROLES)
        return compound or bool(forms & _ROLE_OR_PEOPLE)
    if role(item_words[-1]):
        return True
    return any(role(word) and nxt in _PREPOSITIONS for word, nxt in zip(item_words, item_words[1:]))


#: Endings of nouns that name who does something ("florist", "librarian", "vendeur").
_AGENT_ENDINGS = ("ist", "ian", "eur", "euse", "ero", "era")


def _names_a_job(word: str, text: str) -> bool:
    """Whether ``word`` (folded, singular) of a title names a job: a role word ("engineer",
    "senior"), or a noun of who does something that ``text`` writes in lowercase:
    "painter" of "Painter and Decorator" ("-er" or "-or" after an English verb: "paint",
    "decorate"), "florist". "Docker", a name, is capitalised; "power" of "Power BI" is no
    verb with "-er"."""
    if word in _ROLE_WORDS:
        return True
    if len(word) < 5 or word not in _lowercase_words(text):
        return False
    return word.endswith(_AGENT_ENDINGS) or _agent_of_a_verb(word)


@functools.lru_cache(maxsize=64)
def _lowercase_words(text: str) -> frozenset[str]:
    """The folded, singular words ``text`` writes in lowercase (once per text)."""
    return frozenset(_singular(fold(w)) for w in words(text) if w.islower())


@functools.lru_cache(maxsize=1024)
def _agent_of_a_verb(word: str) -> bool:
    """Whether ``word`` is an English verb with "-er" or "-or" ("painter", "decorator",
    "counsellor"; not "customer", "power" or "interior")."""
    if not word.endswith(("er", "or")):
        return False
    stem = word[:-2]
    candidates = {stem, stem + "e"} | ({stem[:-1]} if len(stem) > 2 and stem[-1] == stem[-2] else set())
    from lemminflect import getAllLemmas

    return any("VERB" in getAllLemmas(c) for c in candidates if len(c) > 2)


def _names_the_job(skill: str, title_words: set[str], text: str) -> bool:
    """Whether the item is nothing but words of the title that, wherever ``text`` uses
    them, qualify the job's name ("CNC" in "a CNC machinist", "Teaching" in "Teaching
    assistant needed"): they name the job, not a skill it asks for."""
    item_words = tuple(_singular(w) for w in skill.split())
    if not text or not all(w in title_words for w in item_words):
        return False
    tokens = _tokens(text)
    n = len(item_words)
    followers = [tokens[i + n] if i + n < len(tokens) else ""
                 for i in range(len(tokens) - n + 1) if tokens[i:i + n] == item_words]
    return bool(followers) and all(f in _ROLE_OR_PEOPLE or f == "help" for f in followers)


@functools.lru_cache(maxsize=64)
def _tokens(text: str) -> tuple[str, ...]:
    """The folded, singular words of ``text`` (once per text: a grammar asks for each of
    up to 800 phrases)."""
    return tuple(_singular(fold(w)) for w in words(text))


#: The reasons of :func:`identity_reason` that an item is the posting's own identity (its
#: other reason: the item names a person).
IDENTITY_REASONS = ("the employer", "the location", "the job title")


def identity_reason(item: str, *, employer: str = "", location: str = "", title: str = "",
                    text: str = "") -> str | None:
    """Why ``item`` is not a skill, or None when it may be one: it is (part of) the
    employer's name or the location; it holds nothing but words of the job title naming
    the job itself (a role word such as "Engineer", "Nurse", "Senior", or a noun of who
    does something that ``text`` writes in lowercase: "painter"), or title words
    that qualify the job's name wherever the posting's ``text`` uses them ("CNC" of "CNC
    machinist"); or it names a person ("caring people", "electrician for domestic",
    "delays with customers"; "coded welder certificate" stays a skill)."""
    skill = _norm(item)
    if not skill:
        return None
    employer_core = _norm(_LEGAL.sub(" ", employer or ""))
    if employer and _LEGAL.fullmatch(item.strip()) and _LEGAL.search(employer):
        return "the employer"  # its legal form alone ("GmbH")
    skill_core = _norm(_LEGAL.sub(" ", item))  # "Sicherheitsdienste GmbH" of "Nordlicht Sicherheitsdienste GmbH"
    if employer_core and skill_core and (_contains(employer_core, skill_core) or _contains(skill, employer_core)):
        return "the employer"
    place = _norm(location or "")
    if place and (_contains(place, skill) or _contains(skill, place)):
        return "the location"
    title_norm = _norm(title or "")
    title_words = {_singular(w) for w in title_norm.split()}
    item_words = [_singular(w) for w in skill.split()]
    if title_norm and (skill == title_norm or (
            all(w in title_words for w in item_words) and any(_names_a_job(w, text) for w in item_words))):
        return "the job title"
    if title_norm and _names_the_job(skill, title_words, text):
        return "the job title"
    named = [w for w in skill.split() if len(w) > 1]  # "3D", "F#": no role letters
    if named and _names_person(named, title_words, text):
        return "a person, not a skill"
    return None


def identity_skills(items: Iterable[str], *, employer: str = "", location: str = "",
                    title: str = "", text: str = "") -> list[tuple[str, str]]:
    """(item, reason) for each item :func:`identity_reason` gives a reason for."""
    found = []
    for item in items:
        reason = identity_reason(item, employer=employer, location=location, title=title, text=text)
        if reason:
            found.append((item, reason))
    return found


# Words that make a list item a working condition (hours, days, contract, pay, perks), in
# English, German, Spanish and French; an item's words match as written or after
# _singular ("shifts"). "Schichtdienst" stays a skill (experience of shift work).
_CONDITION_WORDS = frozenset("""
fulltime parttime overtime shift night evening weekend weekday morning afternoon hour
monday tuesday wednesday thursday friday saturday sunday daily
salary wage pay paid bonus commission income equity benefit perk snack vibe holiday vacation pension
gbp eur usd ote january february march april june july august september october november december
seasonal temporary permanent contract freelance remote hybrid onsite relocation flexible rota
hybride hybrides híbrido híbrida
vollzeit teilzeit gehalt bezahlung urlaub befristet unbefristet festanstellung homeoffice
jornada horario salario sueldo turno contrato vacaciones
cdi cdd salaire horaire contrat
""".split())
# Two-word conditions whose words alone may belong to a skill ("time management").
_CONDITION_PAIRS = frozenset({("full", "time"), ("part", "time"), ("temps", "plein"), ("temps", "partiel"),
                              ("tiempo", "completo"), ("tiempo", "parcial"), ("media", "jornada"),
                              ("full", "training")})


#: A time of day ("8am", "6 pm", "14:30", "7h30", "14.30 Uhr"; not "3.11"): an item holding
#: one gives working hours.
_CLOCK_TIME = re.compile(r"(?<![\w.])\d{1,2}(?:\s?[ap]\.?m\b\.?|[:h]\d{2}\b|\.\d{2}\s?uhr\b)", re.I)


def conditions_reason(item: str) -> str | None:
    """"working conditions" when ``item`` names hours, shifts, days, the contract, the pay
    or a perk ("Full-time", "Two-shift operation", "Commission only", "8am-6pm"), else
    None."""
    if _CLOCK_TIME.search(item):
        return "working conditions"
    tokens = [fold(w) for w in words(item)]
    if any(t in _CONDITION_WORDS or _singular(t) in _CONDITION_WORDS for t in tokens):
        return "working conditions"
    if any(pair in _CONDITION_PAIRS for pair in zip(tokens, tokens[1:])):
        return "working conditions"
    return None


# Personal traits and a posting's hype ("motivated", "kind and patient", "awesome team"):
# what a candidate is or what the job is like, not a skill it asks for. Adjectives only:
# "Teamfähigkeit", "leadership" and "sens du service" stay skills.
_TRAIT_WORDS = frozenset("""
motivated self-motivated passionate enthusiastic friendly reliable dependable punctual honest hardworking
hard-working caring kind patient handy hungry driven dynamic proactive energetic positive cheerful
outgoing organised organized self-starter self-starters rockstar ninja awesome exciting amazing
fast-paced vibrant fun talented ambitious
motiviert zuverlässig freundlich belastbar engagiert pünktlich flexibel
motivado motivada responsable amable puntual dinámico dinámica proactivo proactiva
motivé motivée dynamique rigoureux rigoureuse souriant souriante ponctuel ponctuelle
""".split())
#: Words a trait phrase may hold besides traits ("kind and patient", "caring people").
_TRAIT_FILLER = frozenset("and or und y et attitude people person team".split())


def traits_reason(item: str) -> str | None:
    """"a personal trait" when ``item`` holds trait or hype adjectives and nothing but
    them and filler ("Motivated", "kind and patient", "awesome team"), else None."""
    tokens = [fold(w) for w in re.findall(r"[^\W\d_]+(?:-[^\W\d_]+)*", item)]
    if any(t in _TRAIT_WORDS for t in tokens) and all(t in _TRAIT_WORDS or t in _TRAIT_FILLER for t in tokens):
        return "a personal trait"
    return None


def description_reason(item: str, language: str | None) -> str | None:
    """"a description, not a skill" when ``language`` is English ("en") and ``item`` ends
    in a lowercase word that is only ever an adjective or an adverb ("helpful",
    "disruptive", "overhead cranes safely"), else None. Parts of speech come from
    ``lemminflect``'s English lexicon; a word it does not know is kept, and so are a
    capitalised one ("Agile") and a hyphenated one ("mid-sized")."""
    if language != "en":
        return None
    last = item.strip().split()[-1] if item.strip() else ""
    if not last or last != last.lower() or not last.isalpha():
        return None
    from lemminflect import getAllLemmas

    parts = set(getAllLemmas(last))
    return "a description, not a skill" if parts and parts <= {"ADJ", "ADV"} else None


#: A one-word, all-lowercase list item at least this frequent in the posting's language is
#: an everyday word, not a skill. wordfreq's Zipf scale: 4.8 is about 63 times per million
#: words ("data" 5.3, "support" 5.5, "till" 4.8; "inventory" 4.1, "espresso" 3.4). Chosen
#: on examples/eval: the highest precision that keeps every gold skill it matched.
EVERYDAY_ZIPF = 4.8


def everyday_reason(item: str, language: str | None, text: str = "") -> str | None:
    """"an everyday word" when ``item`` is one word written in lowercase (no digit) whose
    frequency in ``language`` (ISO 639-1; None or unknown: English) reaches
    :data:`EVERYDAY_ZIPF`, else None. A capitalised word, an acronym or a phrase is
    never one ("Excel", "SQL", "customer support"), except a word capitalised only
    because it starts each sentence of ``text`` that holds it ("Work in our store.")."""
    word = item.strip()
    if _sentence_initial_only(word, text):
        word = word.lower()
    if not word or len(word.split()) != 1 or word != word.lower() or any(c.isdigit() for c in word):
        return None
    from wordfreq import zipf_frequency

    return "an everyday word" if zipf_frequency(word, wordfreq_language(language)) >= EVERYDAY_ZIPF else None


def _sentence_initial_only(word: str, text: str) -> bool:
    """Whether ``word`` (one capitalised word) occurs in ``text`` and only at the start
    of a sentence."""
    if not text or not word[:1].isupper() or not word[1:].islower() or " " in word:
        return False
    found = list(re.finditer(rf"(?<![^\W_]){re.escape(word)}(?![^\W_])", text))
    return bool(found) and all(SENTENCE_END.search(text[:m.start()]) or not text[:m.start()].strip()
                               for m in found)
