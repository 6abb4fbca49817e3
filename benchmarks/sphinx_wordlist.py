"""Regenerate `voicecoach/voice/sphinx_words.py`: the most common English words, in order.

    python benchmarks/sphinx_wordlist.py [--count 5000]

The bundled PocketSphinx engine uses this list to build its near-miss competitors
(see `voicecoach/voice/sphinx_engine.py`).  The ranking comes from the unigram
probabilities of the language model that ships in the pocketsphinx wheel, so the
list needs no outside data; only words the wheel's dictionary can pronounce and
that are plain lower-case words (letters and inner apostrophes) are kept.
"""

from __future__ import annotations

import argparse
import re
import sys
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
OUT = REPO / "voicecoach" / "voice" / "sphinx_words.py"

HEADER = '''"""The {count} most common English words, most common first (generated: do not edit).

Made by `benchmarks/sphinx_wordlist.py` from the unigram probabilities of the
language model in the pocketsphinx wheel.  The bundled engine picks its near-miss
competitors from these words (`sphinx_engine.near_miss_words`).
"""

COMMON_WORDS: tuple[str, ...] = (
'''


def ranked_words(count: int) -> list[str]:
    """The `count` most probable plain words of the wheel's language model."""
    import pocketsphinx

    lm = pocketsphinx.NGramModel.readfile(pocketsphinx.get_model_path("en-us/en-us.lm.bin"))
    words = set()
    with open(pocketsphinx.get_model_path("en-us/cmudict-en-us.dict"), encoding="utf-8") as f:
        for line in f:
            word = line.split(maxsplit=1)[0].split("(", 1)[0]
            if re.fullmatch(r"[a-z][a-z']*", word):
                words.add(word)
    scored = sorted(words, key=lambda w: (-lm.prob([w]), w))
    return scored[:count]


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--count", type=int, default=5000)
    args = ap.parse_args(argv)
    words = ranked_words(args.count)
    lines = [HEADER.format(count=len(words))]
    row: list[str] = []
    for w in words:
        item = f'"{w}",'
        if sum(len(x) + 1 for x in row) + len(item) > 110:
            lines.append("    " + " ".join(row) + "\n")
            row = []
        row.append(item)
    if row:
        lines.append("    " + " ".join(row) + "\n")
    lines.append(")\n")
    OUT.write_text("".join(lines), encoding="utf-8")
    print(f"wrote {len(words)} words to {OUT.relative_to(REPO)}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
