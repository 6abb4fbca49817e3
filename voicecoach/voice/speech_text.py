"""Text as the coach should say it: digits, ranges, units and abbreviations spelled out.

Routines are written for reading ("10-15 reps", "hold 30 s", "IT band"), but each speech
engine guesses differently at such text: espeak reads "10-15" as "ten minus fifteen", and
Piper says "IT" as the word "it".  Spelling it out once, here, before any engine sees it,
makes every engine say the same words.
"""

from __future__ import annotations

import re

_ONES = ("zero", "one", "two", "three", "four", "five", "six", "seven", "eight", "nine",
         "ten", "eleven", "twelve", "thirteen", "fourteen", "fifteen", "sixteen",
         "seventeen", "eighteen", "nineteen")
_TENS = ("", "", "twenty", "thirty", "forty", "fifty", "sixty", "seventy", "eighty", "ninety")
_ORDINAL_WORDS = {"one": "first", "two": "second", "three": "third", "five": "fifth", "eight": "eighth",
                  "nine": "ninth", "twelve": "twelfth"}

# Units after a number: (singular, plural).  Only after a number, so "min" or "s" elsewhere
# stays as it is; none that is also a word after a number ("2 in a row", "3 m").
_UNITS = {
    "s": ("second", "seconds"), "sec": ("second", "seconds"), "secs": ("second", "seconds"),
    "min": ("minute", "minutes"), "mins": ("minute", "minutes"),
    "hr": ("hour", "hours"), "hrs": ("hour", "hours"),
    "kg": ("kilogram", "kilograms"), "lb": ("pound", "pounds"), "lbs": ("pound", "pounds"),
    "cm": ("centimetre", "centimetres"), "mm": ("millimetre", "millimetres"), "ft": ("foot", "feet"),
    "x": ("time", "times"), "°": ("degree", "degrees"), "%": ("percent", "percent"),
}  # fmt: skip

# Words engines mispronounce, as they should sound.  Matched whole and case-sensitively,
# so "it" the pronoun is left alone.
_WORDS = {
    "IT": "I T",
    "ACL": "A C L",
    "MCL": "M C L",
    "PT": "P T",
    "e.g.": "for example",
    "i.e.": "that is",
    "etc.": "and so on",
    "vs.": "versus",
    "vs": "versus",
    "&": "and",
}

_NUMBER = r"\d+(?:\.\d+)?"
_RANGE = re.compile(rf"(?<![\w.])({_NUMBER})\s*(?:-|–|—|to)\s*({_NUMBER})(?!\d|\.\d)")
_UNIT_NAMES = "|".join(sorted((re.escape(u) for u in _UNITS), key=len, reverse=True))
_WITH_UNIT = re.compile(rf"(?<![\w.])({_NUMBER})(?: to ({_NUMBER}))?\s?({_UNIT_NAMES})(?![\w])")
_ORDINAL = re.compile(r"(?<![\w.])(\d+)(st|nd|rd|th)\b")
_BARE = re.compile(rf"(?<![\w.]){_NUMBER}(?![\w])")
_WORD = re.compile(r"(?<![\w.])(" + "|".join(re.escape(w) for w in _WORDS) + r")(?![\w])")


def number_word(n: int) -> str:
    """English words for 0-99, as the coach counts them."""
    if not 0 <= n < 100:
        raise ValueError("numbers 0-99 only")
    if n < 20:
        return _ONES[n]
    tens, ones = divmod(n, 10)
    return _TENS[tens] + ("" if ones == 0 else " " + _ONES[ones])


def number_words(n: int) -> str:
    """English words for any whole number from 0 to 999,999 ("one hundred and five")."""
    if n < 0:
        return "minus " + number_words(-n)
    if n < 100:
        return number_word(n)
    if n < 1000:
        hundreds, rest = divmod(n, 100)
        return f"{_ONES[hundreds]} hundred" + ("" if rest == 0 else " and " + number_word(rest))
    if n < 1_000_000:
        thousands, rest = divmod(n, 1000)
        tail = "" if rest == 0 else (" and " if rest < 100 else " ") + number_words(rest)
        return f"{number_words(thousands)} thousand{tail}"
    return " ".join(_ONES[int(d)] for d in str(n))  # a code or a big count: digit by digit


def _say_number(text: str) -> str:
    whole, _, fraction = text.partition(".")
    words = number_words(int(whole))
    if fraction:
        words += " point " + " ".join(_ONES[int(d)] for d in fraction)
    return words


def _ordinal(n: int) -> str:
    words = number_words(n).split(" ")
    last = words[-1]
    if last in _ORDINAL_WORDS:
        words[-1] = _ORDINAL_WORDS[last]
    elif last.endswith("y"):
        words[-1] = last[:-1] + "ieth"
    else:
        words[-1] = last + "th"
    return " ".join(words)


def speakable(text: str) -> str:
    """`text` with numbers, ranges, units and abbreviations written as words.

    "10-15 reps" -> "ten to fifteen reps", "hold 30 s" -> "hold thirty seconds",
    "1 min" -> "one minute", "the IT band" -> "the I T band", "3rd" -> "third".
    """
    text = _WORD.sub(lambda m: _WORDS[m.group(1)], text)

    def with_unit(m: re.Match[str]) -> str:
        low, high, unit = m.group(1), m.group(2), m.group(3)
        singular, plural = _UNITS[unit]
        last = high or low
        name = singular if last == "1" else plural
        spoken = _say_number(low) + (f" to {_say_number(high)}" if high else "")
        return f"{spoken} {name}"

    text = _RANGE.sub(lambda m: f"{m.group(1)} to {m.group(2)}", text)
    text = _WITH_UNIT.sub(with_unit, text)
    text = _ORDINAL.sub(lambda m: _ordinal(int(m.group(1))), text)
    return _BARE.sub(lambda m: _say_number(m.group(0)), text)


# Where a long text may be split for rendering piece by piece: after a sentence's end,
# and after a clause's comma, semicolon or colon once the piece has a few words.
_SENTENCE_END = re.compile(r"(?<=[.!?])\s+")
_CLAUSE_END = re.compile(r"(?<=[,;:])\s+")
MIN_CLAUSE_WORDS = 4


def split_pieces(text: str) -> list[tuple[str, bool]]:
    """`text` cut into sentences, and long sentences into clauses, for rendering one piece at
    a time: [(piece, ends_sentence)].  Joined with spaces the pieces give `text` back."""
    pieces: list[tuple[str, bool]] = []
    for sentence in _SENTENCE_END.split(text.strip()):
        if not sentence:
            continue
        clauses = _CLAUSE_END.split(sentence)
        current = ""
        for i, clause in enumerate(clauses):
            current = f"{current} {clause}".strip()
            rest = " ".join(clauses[i + 1:])
            if i + 1 < len(clauses) and len(current.split()) >= MIN_CLAUSE_WORDS \
                    and len(rest.split()) >= MIN_CLAUSE_WORDS:
                pieces.append((current, False))
                current = ""
        if current:
            pieces.append((current, True))
    return pieces
