"""Grounding a list output in a text: the candidate phrases a grammar offers
(:func:`phrases`), whether an item occurs in the text (:func:`occurs`), and dropping
the items that do not and those that repeat another (:func:`ground`, :func:`distinct`). Words are Unicode letters and digits, so a
German or Spanish posting grounds as well as an English one."""

from __future__ import annotations

import re
from typing import Any

from consumers.grammar import DEFAULT_MAX_STRING
from consumers.quality import STOPWORDS, detect_language

MAX_PHRASE_WORDS = 4
MAX_PHRASES = 800

# A word may hold an apostrophe ("driver's", "O'Brien"), so a phrase never ends inside one,
# and an ampersand ("P&L", "GD&T").
_WORD = re.compile(r"[^\W_](?:[\w+#./'’&-]*[^\W_]|[\w+#./-]*[+#])?")
_CLAUSE_WORDS = frozenset("is are was were be been looking hiring seeks seeking needs wanted "
                          "sucht suchen busca buscamos recherche recherchons".split())
#: The stop words a phrase may hold inside (:func:`_joined`).
_JOINERS = frozenset("and of in for & und y et de du des del por".split())
#: Joiners of one language only: English "a" is an article ("drive a forklift" is a clause).
_LANGUAGE_JOINERS = {"fr": frozenset({"à"}), "es": frozenset({"a"}), "it": frozenset({"a", "di", "da"})}
#: An article may follow a joiner inside a phrase when the joiner is a preposition ("aide à
#: la toilette", "preparación de los pedidos", "Wartung der Anlagen"), not a conjunction
#: ("caisse et le réassort" is two things).
_CONJUNCTIONS = frozenset("and & und y et e".split())
_ARTICLES = frozenset("la le les el los las der die das den dem il lo gli".split())
_NUMBER = re.compile(r"^[\d.,/+-]+$")  # "32 or 40", "85,000" are no skills: no phrase starts with one
_STOPWORDS = frozenset(
    "a an and any are as at be been but by can do each for from has have if in into is it its least "
    "every may more most must nice no not of on or our per plus so such than that the their them then there "
    "these they this those to up us was we were what when where which who will with within would you your "
    "able also etc other year years week weeks day days hour hours required requirements experience "
    "eur usd gbp cad chf salary pay paid office remote hybrid join apply now "
    "good great excellent strong solid various needed flexible stuff things details unlimited "
    "task tasks duty duties help client clients role roles company main free potential soon start "
    "between given provided opportunity opportunities cv resume "
    "aufgaben tareas tâches erfahrung experiencia expérience".split()
).union(*STOPWORDS.values())
#: Function words of a posting's language beyond language detection's few
#: (consumers.quality.STOPWORDS), used for a posting in that language only: "hat" is German
#: for "has", and "Red Hat" is no clause.
_FUNCTION_WORDS = {
    "fr": frozenset("à ce cet cette ces son sa ses leur leurs vos nos mon ma mes il elle ils elles on ne pas plus "
                    "très tout tous toute toutes mais donc car si comme chez sans sous entre vers dont où être "
                    "avoir sera".split()),
    "es": frozenset("a ante contra desde hacia hasta según sin sobre tras lo unos unas e u ni tu tus mi mis te le "
                    "les nuestros nuestras está están ser muy cuando donde".split()),
    "de": frozenset("einen einem eines aber an am aus nach über unter vor sein haben hat ihnen sich sowie "
                    "sehr".split()),
    "it": frozenset("i uno da su tra fra dei degli delle ai agli alle dal dalla nel nella sul sulla ma si vi suo "
                    "sua suoi sue vostro vostra tuo tua".split()),
}


def occurs(item: str, text: str) -> bool:
    """Whether ``item`` occurs in ``text``: case-insensitive, on word boundaries, any
    run of whitespace matching any other ("Go" is not found in "good", "Valid driver"
    not in "Valid driver's license": a possessive belongs to its word)."""
    return _count(item, text) > 0


def _count(item: str, text: str) -> int:
    """How often ``item`` occurs in ``text`` (as :func:`occurs` finds it)."""
    words = [re.escape(w) for w in item.split()]
    if not words:
        return 0
    pattern = r"(?<![^\W_])" + r"\s+".join(words) + r"(?![^\W_]|['’][^\W_])"
    return len(re.findall(pattern, text, flags=re.IGNORECASE))


def ground(value: Any, text: str) -> Any:
    """``value`` with every string item of every array kept only when it
    :func:`occurs` in ``text``, each thing named once (:func:`distinct`)."""
    if isinstance(value, list):
        if all(isinstance(v, str) for v in value):
            return distinct([item for item in (v.strip() for v in value) if item and occurs(item, text)], text)
        return [ground(v, text) for v in value]
    if isinstance(value, dict):
        return {k: ground(v, text) for k, v in value.items()}
    return value


def distinct(items: list[str], text: str = "") -> list[str]:
    """``items`` with each thing named once, where the first of them stood:

    - a case-insensitive duplicate goes;
    - of two items where one holds the other's words in a row, the longer goes when it is
      a clause around the shorter ("log tickets in Zendesk", "geometry and calculus",
      "handle complaints calmly": its extra words hold a stop word or are more than one),
      else the shorter goes ("Illustrator" of "Adobe Illustrator", "software" of "HR
      software"), unless ``text`` names it on its own too ("React" and "React Native");
    - an acronym goes where ``text`` spells it out, as in "Qualified Teacher Status (QTS)",
      and the spelled-out form is listed too."""
    kept: list[str] = []
    for item in items:
        for i, other in enumerate(kept):
            winner = _one_of(other, item, text)
            if winner is not None:
                kept[i] = winner
                break
        else:
            kept.append(item)
    return kept


def _one_of(first: str, second: str, text: str) -> str | None:
    """The one of two items to keep when they name the same thing, else None."""
    a, b = first.lower().split(), second.lower().split()
    if a == b:
        return first
    if _spells_out(first, second, text):
        return second
    if _spells_out(second, first, text):
        return first
    (short, s), (long_, l) = sorted(((first, a), (second, b)), key=lambda pair: len(pair[1]))
    at = next((i for i in range(len(l) - len(s) + 1) if l[i:i + len(s)] == s), None) if len(s) < len(l) else None
    if at is None:
        return None
    extra = l[:at] + l[at + len(s):]
    if len(extra) > 1 or any(w.strip(",.;:") in _STOPWORDS for w in extra):
        return short  # the longer one is a clause around it
    # "React" and "React Native" are two skills when the text names "React" on its own too.
    return long_ if not text or _count(short, text) <= _count(long_, text) else None


def _spells_out(acronym: str, phrase: str, text: str) -> bool:
    """Whether ``text`` writes ``phrase`` followed by ``acronym`` in brackets."""
    if not (acronym.isupper() and 1 < len(acronym) <= 8 and " " not in acronym):
        return False
    pattern = r"\s+".join(re.escape(w) for w in phrase.split()) + r"\s*\(\s*" + re.escape(acronym) + r"\s*\)"
    return re.search(pattern, text, flags=re.IGNORECASE) is not None


def _joined(run: list[str], stop: frozenset[str], joiners: frozenset[str]) -> bool:
    """Whether the stop words inside ``run`` join it into one phrase: none, one joiner
    ("port and inland terminals", "HNC in Electrical Engineering"), or a preposition among
    the joiners and the article after it ("aide à la toilette"); any other make a clause ("coordinator to
    plan", "math or a related"). An upper-case word is no stop word ("Class A CDL")."""
    inner = [(i, w.lower()) for i, w in enumerate(run[1:-1]) if w.lower() in stop and not w.isupper()]
    if not inner:
        return True
    if len(inner) == 1:
        return inner[0][1] in joiners
    (i, first), (j, second) = inner[0], inner[-1]
    return len(inner) == 2 and j == i + 1 and first in joiners and first not in _CONJUNCTIONS and second in _ARTICLES


def phrases(text: str, *, min_len: int = 1, max_len: int = DEFAULT_MAX_STRING) -> list[str]:
    """Candidate items of a grounded list: runs of 1 to :data:`MAX_PHRASE_WORDS` words of
    ``text`` that neither start nor end with a stop word (with the function words of
    ``text``'s language), hold inside only stop words that join them (:func:`_joined`),
    do not start with a bare number nor end with one after a word that is not capitalised
    ("early 6", "14 22"; "ISO 9001" stays), hold no verb of a clause ("is hiring"), hold a
    letter and :func:`occurs` in ``text`` as written, in order of first appearance,
    without duplicates."""
    words = _WORD.findall(text)
    language = detect_language(text) or ""
    stop = _STOPWORDS | _FUNCTION_WORDS.get(language, frozenset())
    joiners = _JOINERS | _LANGUAGE_JOINERS.get(language, frozenset())
    seen: dict[str, None] = {}
    for n in range(1, MAX_PHRASE_WORDS + 1):
        for i in range(len(words) - n + 1):
            run = words[i:i + n]
            if run[0].lower() in stop or run[-1].lower() in stop or _NUMBER.match(run[0]):
                continue
            if any(w.lower() in _CLAUSE_WORDS for w in run):  # "Cafe is hiring" is a clause, no skill
                continue
            if not _joined(run, stop, joiners):
                continue
            if n > 1 and _NUMBER.match(run[-1]) and not run[-2][:1].isupper():  # "early 6", not "ISO 9001"
                continue
            phrase = " ".join(run)
            if (min_len <= len(phrase) <= max_len and any(c.isalpha() for c in phrase) and phrase not in seen
                    and occurs(phrase, text)):  # "St. Mary's" gives words St, Mary, s: "Mary s" does not occur
                seen.setdefault(phrase, None)
    return list(seen)[:MAX_PHRASES]
