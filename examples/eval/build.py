"""Writes the labelled evaluation sets (hand-written postings, gold skills as they
appear in the text, a hand-given clarity score 1-10) from the rows of tuned_rows.py and
heldout_rows.py:

- examples/eval/postings.jsonl (``ROWS``): the set the benchmark reads and the quality
  rules were tuned on.
- examples/eval/heldout.jsonl (``HELDOUT_ROWS``): 16 further postings (new employers,
  texts and occupations, labelled the same way), written after the quality rules were
  tuned on postings.jsonl and never used to tune them; only for checking that those
  rules generalise. Once measured, its mistakes were seen, and the next stop's filters
  were written with them in view, so it is held out for the filters before that stop only.
- examples/eval/heldout2.jsonl (``HELDOUT2_ROWS``): 20 postings in 20 sectors (one French,
  one Italian), written by a second annotator blind to the filters and to every model
  output; measured once with the filters of the stop that added it.

Edit the rows and run `python examples/eval/build.py`; the JSONL files are what the
benchmark reads. Each row is a posting `wavestream submit` accepts once `gold` is
removed (`jq -c 'del(.gold)'`)."""

import json
import random
from pathlib import Path

from heldout_rows import HELDOUT2_ROWS, HELDOUT_ROWS
from tuned_rows import ROWS


def write(rows: list, name: str) -> None:
    out = Path(__file__).with_name(name)
    lines = []
    # A fixed shuffle: any prefix (bench --limit) spreads over occupations and clarity.
    ordered = list(rows)
    random.Random(10).shuffle(ordered)
    for pid, title, company, location, occupation, description, skills, clarity in ordered:
        missing = [s for s in skills if s.lower() not in description.lower()]
        assert not missing, (pid, missing)
        row = {"posting_id": pid, "title": title, "company": company or None, "location": location or None,
               "description": description,
               "gold": {"occupation": occupation, "skills": skills, "clarity": clarity}}
        lines.append(json.dumps(row, ensure_ascii=False))
    out.write_text("\n".join(lines) + "\n")
    print(f"{len(lines)} postings -> {out}")


def main() -> None:
    ids = [row[0] for row in ROWS + HELDOUT_ROWS + HELDOUT2_ROWS]
    assert len(ids) == len(set(ids)), "posting ids repeat"
    write(ROWS, "postings.jsonl")
    write(HELDOUT_ROWS, "heldout.jsonl")
    write(HELDOUT2_ROWS, "heldout2.jsonl")


if __name__ == "__main__":
    main()
