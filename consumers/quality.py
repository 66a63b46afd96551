"""Checks that make an output trustworthy beyond its shape (pure Python, no model):

- :func:`detect_language`: the language of a text from its stop words (en, de, es, fr,
  it, nl, pt); None when the text is too short to tell.
- :func:`invented_names`: capitalised names (organisations, persons, places) a summary
  uses that its source text does not contain.
- :func:`identity_skills`: list items that are the employer, the location or words of
  the job title alone ("Northwind Analytics", "Berlin", "Senior Engineer").
- :func:`conditions_reason`: list items that are working conditions, not skills: hours,
  shifts, days, contract, pay and perks ("Full-time", "Evenings and weekends", "CDI").
- :func:`everyday_reason`: one-word list items that are everyday words of the posting's
  language ("work", "data", "support"), not skills (word frequencies from ``wordfreq``).

The contracts (``consumers.contracts``) turn their findings into a
:class:`ContractViolation`, so the attempt fails and the retry samples afresh.
"""

from __future__ import annotations

import functools
import re
import unicodedata
from typing import Iterable

_STOP = {
    "en": "the and of to a in for is are with on as be will you we our your this that an or at by from have has "
          "who which it their they all can must should",
    "de": "der die das und ist mit für von zu den dem des ein eine einer wir sie ihr ihre im auf bei auch sind als "
          "oder nicht wird werden uns unser unsere unserer unseren unserem zur zum",
    "es": "el la los las y de del en con para por un una es son que se su sus nuestro nuestra buscamos al como "
          "más o experiencia",
    "fr": "le la les et de des du en pour avec un une est sont que qui nous vous votre notre au aux sur dans "
          "par ou une",
    "it": "il lo la gli le e di del della in con per un una è sono che ci nostro nostra cerchiamo al alla",
    "nl": "de het een en van in met voor op is zijn wij we je jouw onze ons bij als of te",
    "pt": "o a os as e de do da dos das em com para por um uma é são que nosso nossa procuramos ao",
}
STOPWORDS = {lang: frozenset(words.split()) for lang, words in _STOP.items()}
LANGUAGE_NAMES = {"en": "English", "de": "German", "es": "Spanish", "fr": "French", "it": "Italian", "nl": "Dutch",
                  "pt": "Portuguese"}
_TOKEN = re.compile(r"[^\W\d_]+(?:['’][^\W\d_]+)?", re.UNICODE)
#: fewer stop-word hits than this: the language is not decided
MIN_HITS = 3


def words(text: str) -> list[str]:
    """The letter runs of ``text`` (an apostrophe may join two), in order."""
    return _TOKEN.findall(text or "")


def detect_language(text: str) -> str | None:
    """The language (ISO 639-1) whose stop words occur most often in ``text``; None
    when fewer than :data:`MIN_HITS` stop words occur or two languages tie."""
    tokens = [w.lower() for w in words(text)]
    counts = {lang: sum(1 for t in tokens if t in stop) for lang, stop in STOPWORDS.items()}
    ranked = sorted(counts.items(), key=lambda kv: -kv[1])
    (best, hits), (_, second) = ranked[0], ranked[1]
    if hits < MIN_HITS or hits == second:
        return None
    return best


def same_language(output: str, source: str) -> str | None:
    """None when ``output`` is in the language of ``source`` (or either is undecided),
    else a message naming both."""
    want, got = detect_language(source), detect_language(output)
    if want is None or got is None or want == got:
        return None
    return f"the output is in {got!r}, the source text in {want!r}"


# Capitalised words a summary may use without the source naming them: function words
# that start sentences, generic job words, languages, days and months.
_COMMON = frozenset("""
a an the this that these those it its he she they we you i our your their his her my there here
and or but so if when while with for of in on at by to from as is are was be will can may must should
also both each every all any some many most other such no not only who what which where how why
join seeking looking hiring wanted hire apply applicants applicant candidate candidates ideal successful
role position job jobs vacancy opening opportunity employer company team client clients customer customers
responsibilities duties tasks requirements required require requires qualifications skills skill knowledge
experience experienced strong excellent good great key main new full part time remote hybrid onsite
salary pay benefits contract permanent temporary shift shifts night day weekend weekends training
summary overview description posting location title company employment hours
english german spanish french italian dutch portuguese polish turkish arabic chinese
monday tuesday wednesday thursday friday saturday sunday
january february march april may june july august september october november december
mr mrs ms dr
street st road rd avenue ave lane drive boulevard suite floor building city town county state region area
district zip code postal north south east west central downtown usa us uk eu
""".split())
# A sentence-initial capitalised word is a name when one of these follows it.
_NAME_VERBS = frozenset("is are seeks seeking hires hiring wants needs has have offers looks "
                        "sucht bietet busca ofrece recherche cherche propose offre".split())
_ORG_SUFFIXES = frozenset("gmbh ag se kg ohg inc ltd llc plc corp co sa sl sas sarl srl bv nv".split())
_SENTENCE_END = re.compile(r"[.!?:;]\s*$")


def _fold(text: str) -> str:
    return unicodedata.normalize("NFKC", text).casefold()


def _known(word: str, source_words: set[str]) -> bool:
    """Whether ``word`` (or an inflection sharing its stem) occurs in the source; a
    compound ("Full-time", "Node.js") when each of its parts does."""
    parts = words(word)
    if len(parts) > 1:  # lower-case parts ("English-speaking") are common words, not names
        return all(_known(part, source_words) for part in parts if part[:1].isupper())
    if not parts:
        return True
    low = _fold(parts[0]).replace("’", "'")
    low = low[:-2] if low.endswith("'s") else low
    if low in source_words or low in _COMMON:
        return True
    stem = low[: max(4, len(low) - 3)]
    return len(low) > 4 and any(w.startswith(stem) for w in source_words)


def invented_names(output: str, source: str, *, language: str | None = None) -> list[str]:
    """Capitalised names in ``output`` that ``source`` does not contain, in order.

    A capitalised word counts when it is not sentence-initial, or when it is
    sentence-initial and followed by another capitalised word, a possessive or a verb
    such as "is"/"seeks" ("Chipotle is hiring"). In German (``language`` "de", or
    detected from ``output``) nouns are capitalised, so only runs of two or more
    capitalised words and words next to a company suffix (GmbH, AG) count.
    """
    source_words = {_fold(w).replace("’", "'") for w in words(source)}
    source_words |= {w[:-2] for w in source_words if w.endswith("'s")}  # "Mary's" is known as "Mary" too
    language = language or detect_language(output)
    found: list[str] = []
    for sentence in re.split(r"(?<=[.!?])\s+", output.strip()):
        tokens = list(re.finditer(r"[^\s,;:()\"“”]+", sentence))
        runs = _capital_runs([t.group(0).strip(".!?") for t in tokens])
        for start, run in runs:
            unknown = [w for w in run if w and not _known(w, source_words)]
            if not unknown:
                continue
            nxt = [t.group(0) for t in tokens[start + len(run):start + len(run) + 1]]
            org = any(_fold(w).strip(".") in _ORG_SUFFIXES for w in run + nxt)
            if language == "de" and len(run) < 2 and not org:
                continue
            if start == 0 and len(run) == 1 and not org:
                follower = _fold(nxt[0]) if nxt else ""
                possessive = _fold(run[0]).endswith(("'s", "’s"))
                if follower not in _NAME_VERBS and not possessive:
                    continue
            first = next(i for i, w in enumerate(run) if w in unknown)
            last = max(i for i, w in enumerate(run) if w in unknown)
            found.append(" ".join(run[first:last + 1]))
    return found


def _capital_runs(tokens: list[str]) -> list[tuple[int, list[str]]]:
    """(index of first token, tokens) of each run of capitalised tokens."""
    runs: list[tuple[int, list[str]]] = []
    current: list[str] = []
    for i, token in enumerate(tokens + [""]):
        if token[:1].isupper():
            current.append(token)
            continue
        if current:
            runs.append((i - len(current), current))
            current = []
    return runs


_ROLE_WORDS = frozenset("""
engineer engineers developer developers programmer nurse nurses manager managers assistant assistants
technician technicians driver drivers clerk officer specialist analyst consultant representative rep
associate cashier cook chef teacher teachers tutor electrician plumber carpenter welder mechanic
accountant bookkeeper controller machinist hygienist operative journeyman auditor senior junior lead head principal chief intern internship trainee
apprentice worker workers operator coordinator supervisor administrator admin designer architect scientist
agent advisor adviser receptionist waiter waitress server bartender barista housekeeper cleaner
caregiver carer therapist pharmacist physician doctor paramedic dispatcher planner buyer merchandiser
salesperson executive director staff member m w d f h
ingenieur ingenieurin entwickler entwicklerin pflegefachkraft krankenpfleger fachkraft mitarbeiter
mitarbeiterin leiter leiterin verkäufer verkäuferin elektriker koch köchin lehrer lehrerin
enfermero enfermera desarrollador desarrolladora camarero camarera cocinero vendedor vendedora profesor
ingénieur développeur développeuse infirmier infirmière serveur serveuse vendeur vendeuse enseignant
""".split())
_LEGAL = re.compile(r"\b(gmbh|ag|se|kg|inc|ltd|llc|plc|corp|co|s\.?a|s\.?l|sas|sarl|srl|bv|nv)\b\.?", re.I)


def _norm(text: str) -> str:
    return " ".join(_fold(w) for w in words(text))


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
""".split())
_ROLE_OR_PEOPLE = _ROLE_WORDS | _PEOPLE_WORDS
_GERMAN_ROLES = ("entwickler", "entwicklerin", "fachkraft", "mitarbeiter", "mitarbeiterin", "leiter", "leiterin",
                 "ingenieur", "ingenieurin", "berater", "beraterin", "techniker", "technikerin", "kaufmann", "kauffrau")
#: Role words that also name things ("SQL Server", "device driver"): they name the job
#: only when the title holds them.
_AMBIGUOUS_ROLES = frozenset("server agent controller driver operator".split())
_PREPOSITIONS = frozenset("for of at in with to pour de für bei para en".split())
#: What may follow a role word inside a skill ("journeyman plumber license").
_CREDENTIALS = frozenset("license licence certificate certification card experience skills qualification".split())


def _names_person(item_words: list[str], title_words: set[str]) -> bool:
    """Whether the item names a person: it ends in a role or people word ("warehouse
    operatives", "field sales rep") or holds one followed by a preposition ("electrician
    for domestic", "logistics coordinator to plan")."""
    def role(word: str) -> bool:
        forms = {word, _singular(word), word[:-3] + "y" if word.endswith("ies") else word}
        if forms & _AMBIGUOUS_ROLES:
            return bool(forms & title_words)
        # German compounds end in their role word ("Softwareentwickler", "Pflegefachkraft")
        return bool(forms & _ROLE_OR_PEOPLE) or any(len(word) > len(r) + 2 and word.endswith(r) for r in _GERMAN_ROLES)
    if role(item_words[-1]):
        return True
    return any(role(word) and nxt in _PREPOSITIONS for word, nxt in zip(item_words, item_words[1:]))


def _names_the_job(skill: str, title_words: set[str], text: str) -> bool:
    """Whether the item is nothing but words of the title that, wherever ``text`` uses
    them, qualify the job's name ("CNC" in "a CNC machinist", "Teaching" in "Teaching
    assistant needed"): they name the job, not a skill it asks for."""
    item_words = [_singular(w) for w in skill.split()]
    if not text or not all(w in title_words for w in item_words):
        return False
    tokens = [_singular(_fold(w)) for w in words(text)]
    n = len(item_words)
    followers = [tokens[i + n] if i + n < len(tokens) else ""
                 for i in range(len(tokens) - n + 1) if tokens[i:i + n] == item_words]
    return bool(followers) and all(f in _ROLE_OR_PEOPLE or f == "help" for f in followers)


def identity_reason(item: str, *, employer: str = "", location: str = "", title: str = "",
                    text: str = "") -> str | None:
    """Why ``item`` is not a skill, or None when it may be one: it is (part of) the
    employer's name or the location; it holds nothing but words of the job title naming
    the job itself (a role word such as "Engineer", "Nurse", "Senior"), or title words
    that qualify the job's name wherever the posting's ``text`` uses them ("CNC" of "CNC
    machinist"); or it names a person ("caring people", "electrician for domestic",
    "delays with customers"; "coded welder certificate" stays a skill)."""
    skill = _norm(item)
    if not skill:
        return None
    employer_core = _norm(_LEGAL.sub(" ", employer or ""))
    if employer and _LEGAL.fullmatch(item.strip()) and _LEGAL.search(employer):
        return "the employer"  # its legal form alone ("GmbH")
    if employer_core and (_contains(employer_core, skill) or _contains(skill, employer_core)):
        return "the employer"
    place = _norm(location or "")
    if place and (_contains(place, skill) or _contains(skill, place)):
        return "the location"
    title_norm = _norm(title or "")
    title_words = {_singular(w) for w in title_norm.split()}
    item_words = [_singular(w) for w in skill.split()]
    if title_norm and (skill == title_norm or (
            all(w in title_words for w in item_words) and any(w in _ROLE_WORDS for w in item_words))):
        return "the job title"
    if title_norm and _names_the_job(skill, title_words, _norm(text)):
        return "the job title"
    if _names_person([w for w in skill.split() if len(w) > 1] or [""], title_words):
        return "a person, not a skill"
    return None


def identity_skills(items: Iterable[str], *, employer: str = "", location: str = "",
                    title: str = "") -> list[tuple[str, str]]:
    """(item, reason) for each item that is the employer, the location or the title."""
    found = []
    for item in items:
        reason = identity_reason(item, employer=employer, location=location, title=title)
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
seasonal temporary permanent contract freelance remote hybrid onsite relocation flexible
vollzeit teilzeit gehalt bezahlung urlaub befristet unbefristet festanstellung homeoffice
jornada horario salario sueldo turno contrato vacaciones
cdi cdd salaire horaire contrat
""".split())
# Two-word conditions whose words alone may belong to a skill ("time management").
_CONDITION_PAIRS = frozenset({("full", "time"), ("part", "time"), ("temps", "plein"), ("temps", "partiel"),
                              ("tiempo", "completo"), ("tiempo", "parcial"), ("media", "jornada"),
                              ("full", "training")})


def conditions_reason(item: str) -> str | None:
    """"working conditions" when ``item`` names hours, shifts, days, the contract, the pay
    or a perk ("Full-time", "Two-shift operation", "Commission only"), else None."""
    tokens = [_fold(w) for w in words(item)]
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
    tokens = [_fold(w) for w in re.findall(r"[^\W\d_]+(?:-[^\W\d_]+)*", item)]
    if any(t in _TRAIT_WORDS for t in tokens) and all(t in _TRAIT_WORDS or t in _TRAIT_FILLER for t in tokens):
        return "a personal trait"
    return None


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

    return "an everyday word" if zipf_frequency(word, _wordfreq_language(language)) >= EVERYDAY_ZIPF else None


def _sentence_initial_only(word: str, text: str) -> bool:
    """Whether ``word`` (one capitalised word) occurs in ``text`` and only at the start
    of a sentence."""
    if not text or not word[:1].isupper() or not word[1:].islower() or " " in word:
        return False
    found = list(re.finditer(rf"(?<![^\W_]){re.escape(word)}(?![^\W_])", text))
    return bool(found) and all(_SENTENCE_END.search(text[:m.start()]) or not text[:m.start()].strip()
                               for m in found)


@functools.lru_cache(maxsize=None)
def _wordfreq_language(language: str | None) -> str:
    """``language`` when wordfreq has a word list for it, else English (wordfreq lists its
    languages by scanning its data directory: once per language, not once per item)."""
    from wordfreq import available_languages

    return language if language in available_languages() else "en"
