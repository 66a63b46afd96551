"""Checks that make a text output trustworthy beyond its shape (pure Python, no model):

- :func:`detect_language`: the language of a text from its stop words (en, de, es, fr,
  it, nl, pt); None when the text is too short to tell.
- :func:`invented_names`: capitalised names (organisations, persons, places) a summary
  uses that its source text does not contain; :func:`respell_names` first writes a name
  one or two letters off a name of the source as the source does.

What a skills list may not hold is in :mod:`consumers.skill_filters`. The contracts
(``consumers.contracts``) turn their findings into a :class:`ContractViolation`, so the
attempt fails and the retry samples afresh.
"""

from __future__ import annotations

import functools
import re
import unicodedata

_STOP = {
    "en": "the and of to a in for is are with on as be will you we our your this that an or at by from have has "
          "who which it their they all can must should",
    "de": "der die das und ist mit für von zu den dem des ein eine einer wir sie ihr ihre im auf bei auch sind als "
          "oder nicht wird werden uns unser unsere unserer unseren unserem ihren ihrem ihrer zur zum",
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
#: Legal forms that follow a company's name (folded, without dots: "S.A." is "sa").
ORG_SUFFIXES = frozenset("gmbh ag se kg ohg inc ltd llc plc corp co sa sl sas sarl srl bv nv".split())
SENTENCE_END = re.compile(r"[.!?:;]\s*$")


def fold(text: str) -> str:
    """``text`` NFKC-normalised and case-folded."""
    return unicodedata.normalize("NFKC", text).casefold()


def _known(word: str, source_words: set[str]) -> bool:
    """Whether ``word`` (or an inflection sharing its stem) occurs in the source; a
    compound ("Full-time", "Node.js") when each of its parts does."""
    parts = words(word)
    if len(parts) > 1:  # lower-case parts ("English-speaking") are common words, not names
        return all(_known(part, source_words) for part in parts if part[:1].isupper())
    if not parts:
        return True
    low = fold(parts[0]).replace("’", "'")
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
    source_words = {fold(w).replace("’", "'") for w in words(source)}
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
            org = any(fold(w).strip(".") in ORG_SUFFIXES for w in run + nxt)
            if language == "de" and len(run) < 2 and not org:
                continue
            if start == 0 and len(run) == 1 and not org:
                follower = fold(nxt[0]).strip(".!?") if nxt else ""
                possessive = fold(run[0]).endswith(("'s", "’s"))
                if follower not in _NAME_VERBS and not possessive:
                    continue
            first = next(i for i, w in enumerate(run) if w in unknown)
            last = max(i for i, w in enumerate(run) if w in unknown)
            found.append(" ".join(run[first:last + 1]))
    return found


#: A name in an output at most this many edits from a name of the source, and no more than
#: a quarter of its letters, is that name misspelt ("Datawerk" for "Datenwerk").
MAX_NAME_EDITS = 2
#: A word at least this frequent in the output's language is a word, not a misspelt name.
RARE_ZIPF = 3.0


def respell_names(output: str, source: str) -> str:
    """``output`` with each capitalised word that ``source`` does not contain, but that is
    a near miss of a capitalised word of ``source`` (same first letter, at least five
    letters, at most :data:`MAX_NAME_EDITS` edits and a quarter of its letters, and not a
    word of the output's language), written as ``source`` writes it. A small model
    copies a name one letter off ("Datawerk GmbH" for "Datenwerk GmbH"); a name it
    invents stays as it is, for :func:`invented_names`."""
    from wordfreq import zipf_frequency

    source_words = {fold(w): w for w in words(source) if w[:1].isupper() and len(w) >= 5}
    language = wordfreq_language(detect_language(output))

    def near(word: str) -> str | None:
        folded = fold(word)
        if len(word) < 5 or not word[:1].isupper() or folded in source_words or folded in _COMMON:
            return None
        if zipf_frequency(folded, language) >= RARE_ZIPF:  # a word of the language ("There"), no name
            return None
        best = [(_edits(folded, known), original) for known, original in source_words.items()
                if known[0] == folded[0] and abs(len(known) - len(folded)) <= MAX_NAME_EDITS]
        best = [(d, original) for d, original in best if d <= min(MAX_NAME_EDITS, len(word) // 4)]
        return min(best)[1] if best else None

    return re.sub(r"[^\W\d_]+", lambda m: near(m.group(0)) or m.group(0), output)


def _edits(a: str, b: str) -> int:
    """The Levenshtein distance of ``a`` and ``b``."""
    row = list(range(len(b) + 1))
    for i, ca in enumerate(a, 1):
        prev, row[0] = row[0], i
        for j, cb in enumerate(b, 1):
            prev, row[j] = row[j], min(row[j] + 1, row[j - 1] + 1, prev + (ca != cb))
    return row[-1]


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


@functools.lru_cache(maxsize=None)
def wordfreq_language(language: str | None) -> str:
    """``language`` when wordfreq has a word list for it, else English (wordfreq lists its
    languages by scanning its data directory: once per language, not once per item)."""
    from wordfreq import available_languages

    return language if language in available_languages() else "en"
