"""`voicecoach suggest`: pick a routine from where and how the knee hurts.

The knee-pain types come from the routines' own `pain_guide` entries, and each
routine's `helps_with` says which types it suits, so a physio can change both by
editing routine files.
"""

from __future__ import annotations

import re

from voicecoach.core.routine import PainType, Routine, list_routines

# Common phrasings, rewritten to the guide's wording before anything is matched.  Keys are
# whole phrases after `_normal` (lower case, no apostrophes).
_PHRASES = {
    "it band": "itband", "iliotibial band": "itband", "iliotibial": "itband", "itb": "itband", "itbs": "itband",
    "patello femoral": "patellofemoral", "runner knee": "runners knee",
    "knee cap": "kneecap",
    "front of my knee": "kneecap", "front of the knee": "kneecap", "front of knee": "kneecap",
    "front of my knees": "kneecap", "front of the knees": "kneecap",
    "back of my knee": "behind knee", "back of the knee": "behind knee", "back of knee": "behind knee",
}

# Words people use for the same place or feeling as the guide's wording.
_SYNONYMS = {
    "outside": "outer", "outer": "outer", "lateral": "outer", "side": "outer",
    "under": "under", "behind": "under", "beneath": "under",
    "below": "bottom", "bottom": "bottom", "lower": "bottom", "tendon": "bottom",
    "kneecap": "kneecap", "cap": "kneecap", "patella": "kneecap",
    "swelling": "swell", "swollen": "swell", "swell": "swell", "swells": "swell",
    "hills": "hill", "hill": "hill", "uphill": "hill", "downhill": "hill",
    "hip": "hip", "hips": "hip", "ache": "ache", "achy": "ache", "aches": "ache", "achiness": "ache",
    "squat": "squat", "squatting": "squat", "jump": "jump", "jumping": "jump",
    "tender": "tender", "tenderness": "tender", "sore": "tender",
}

# The guide covers the knee (and the hip that strains it).  A description that names only
# other parts of the body ("lower back pain", "under my foot") is about something else, even
# when it shares a word of place with the guide.
_KNEE_WORDS = {"knee", "knees", "kneecap", "kneecaps", "patella", "hip", "hips", "itband", "patellofemoral"}
_ELSEWHERE = {
    "back", "spine", "neck", "shoulder", "shoulders", "elbow", "elbows", "wrist", "wrists", "hand",
    "hands", "finger", "fingers", "foot", "feet", "heel", "heels", "toe", "toes", "ankle", "ankles",
    "arch", "sole", "soles", "shin", "shins", "calf", "calves", "head", "stomach", "chest", "groin",
    "thigh", "thighs", "hamstring", "hamstrings", "buttock", "buttocks", "arm", "arms", "tooth", "teeth",
}

# A description that names a kind of pain (its name in the guide, or a common name for it)
# outweighs any number of matching words of place.
_NAMED = 10


def _normal(text: str) -> str:
    """Lower case, apostrophes dropped, common phrasings rewritten to the guide's words."""
    words = " " + " ".join(re.findall(r"[a-z]+", text.lower().replace("\u2019", "").replace("'", ""))) + " "
    for phrase in sorted(_PHRASES, key=len, reverse=True):
        words = words.replace(f" {phrase} ", f" {_PHRASES[phrase]} ")
    return words


def _terms(text: str) -> set[str]:
    return {_SYNONYMS[w] for w in _normal(text).split() if w in _SYNONYMS}


def _names(pain: PainType) -> list[str]:
    """The names a kind of pain goes by in the guide: "Runner's knee, or patellofemoral
    syndrome" is "runners knee", "patellofemoral syndrome" and "patellofemoral"."""
    names = []
    for name in re.split(r",? or |[()]", pain.name):
        name = _normal(name).strip()
        if name:
            names.append(name)
            if name.endswith(" syndrome"):
                names.append(name[: -len(" syndrome")])
    return names


def elsewhere(description: str) -> bool:
    """Whether `description` names other parts of the body and not the knee or the hip."""
    words = set(_normal(description).split())
    return bool(words & _ELSEWHERE) and not words & _KNEE_WORDS


def pain_types(routines: list[Routine]) -> list[PainType]:
    seen: dict[str, PainType] = {}
    for routine in routines:
        for pain in routine.pain_guide:
            seen.setdefault(pain.id, pain)
    return list(seen.values())


def rank(description: str, types: list[PainType]) -> list[tuple[int, PainType]]:
    """Pain types ordered by how well the description fits: a name of the kind counts most,
    then each of the description's terms that its signs share.  All score 0 when the
    description is about another part of the body."""
    if elsewhere(description):
        return [(0, pain) for pain in types]
    said = _normal(description)
    wanted = _terms(description)
    scored = []
    for pain in types:
        named = any(f" {name} " in said for name in _names(pain))
        have = _terms(pain.name + " " + " ".join(pain.signs))
        scored.append((_NAMED * named + len(wanted & have), pain))
    return sorted(scored, key=lambda item: -item[0])


def format_suggestions(description: str) -> tuple[str, int]:
    routines = [item.routine for item in list_routines() if item.routine is not None]
    types = pain_types(routines)
    if not types:
        return "No routine has a knee-pain guide.", 1

    def helpers(pain: PainType) -> list[str]:
        return [f"{r.name} ({r.title})" for r in routines if pain.id in r.helps_with]

    def describe(pain: PainType) -> list[str]:
        lines = [f"{pain.name}"]
        lines += [f"  signs: {s}" for s in pain.signs]
        lines += [f"  helps: {c}" for c in pain.care]
        names = helpers(pain)
        lines.append("  routines: " + (", ".join(names) if names else "none yet"))
        return lines

    lines: list[str] = []
    if description.strip():
        ranked = rank(description, types)
        best = [p for score, p in ranked if score == ranked[0][0] and score > 0]
        if not best:
            lines.append(f'Nothing in the guide matches "{description}".')
            if elsewhere(description):
                lines.append("It covers only pain in the knee, and the hip that strains it.")
            lines.append("The kinds of knee pain it knows:")
            for pain in types:
                lines.append(f"  - {pain.name}: {' '.join(pain.signs)}")
            lines.append('Say where your knee hurts (for example "outside of the knee") or name one of these.')
        else:
            lines.append("This sounds most like:" if len(best) == 1 else "This could be one of:")
            for pain in best:
                lines += describe(pain)
    else:
        lines.append("Which kind of knee pain is yours? Then run one of its routines.")
        lines.append("")
        for pain in types:
            lines += describe(pain)
    lines.append("")
    lines.append("This is a guide, not a diagnosis. If pain is strong or keeps coming back, "
                 "see a physiotherapist or doctor.")
    return "\n".join(lines), 0
