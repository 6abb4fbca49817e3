"""`voicecoach suggest`: pick a routine from where and how the knee hurts.

The knee-pain types come from the routines' own `pain_guide` entries, and each
routine's `helps_with` says which types it suits, so a physio can change both by
editing routine files.
"""

from __future__ import annotations

import re

from voicecoach.routine import PainType, Routine, list_routines

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


def _terms(text: str) -> set[str]:
    words = re.findall(r"[a-z]+", text.lower())
    return {_SYNONYMS[w] for w in words if w in _SYNONYMS}


def pain_types(routines: list[Routine]) -> list[PainType]:
    seen: dict[str, PainType] = {}
    for routine in routines:
        for pain in routine.pain_guide:
            seen.setdefault(pain.id, pain)
    return list(seen.values())


def rank(description: str, types: list[PainType]) -> list[tuple[int, PainType]]:
    """Pain types ordered by how many of the description's terms match their signs."""
    wanted = _terms(description)
    scored = []
    for pain in types:
        have = _terms(pain.name + " " + " ".join(pain.signs))
        scored.append((len(wanted & have), pain))
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
            lines.append(f'Nothing in the guide matches "{description}". The kinds of knee pain it knows:')
            lines.append("")
            for pain in types:
                lines += describe(pain)
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
