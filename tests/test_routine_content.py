"""The shipped routines keep every fact of the articles they come from.

These tests read the YAML files directly with ``yaml.safe_load``, so they check the
content of ``routines/`` independently of the loader in ``voicecoach``.
"""

from __future__ import annotations

import re
from pathlib import Path

import pytest
import yaml

ROUTINES = Path(__file__).resolve().parent.parent / "routines"

FILES = {
    "hips-for-knees": "hips-for-knees.yaml",
    "hip-strength": "hip-strength.yaml",
    "step-and-band": "step-and-band.yaml",
    "quads-hamstrings-glutes": "quads-hamstrings-glutes.yaml",
}

TOP_FIELDS = {
    "name", "title", "source", "aliases", "helps_with", "equipment", "rest_seconds",
    "intro", "safety", "pain_guide", "exercises",
}
EXERCISE_FIELDS = {
    "name", "steps", "sets", "sides", "reps", "hold_seconds", "tempo", "parts",
    "equipment", "rest_seconds", "harder", "tips", "optional_equipment", "step_seconds", "sides_match",
    "max_effort",
}
PAIN_FIELDS = {"id", "name", "signs", "care"}
TEMPO_FIELDS = {"up", "top", "down", "bottom"}
RANGE = re.compile(r"^(\d+)-(\d+)$")
PAIN_IDS = {"runners-knee", "it-band-syndrome", "pain-below-kneecap", "achy-knee-or-hip"}


def load(name: str) -> dict:
    with open(ROUTINES / FILES[name], encoding="utf-8") as fh:
        data = yaml.safe_load(fh)
    assert isinstance(data, dict)
    return data


def exercise(routine: dict, name: str) -> dict:
    matches = [ex for ex in routine["exercises"] if ex["name"] == name]
    assert len(matches) == 1, f"expected exactly one exercise named {name!r}"
    return matches[0]


def as_range(value) -> tuple[int, int]:
    """A whole number or a "MIN-MAX" string, as (min, max)."""
    if isinstance(value, bool):
        raise AssertionError(f"not a count: {value!r}")
    if isinstance(value, int):
        return value, value
    match = RANGE.match(str(value))
    assert match, f"not a range: {value!r}"
    return int(match.group(1)), int(match.group(2))


def text_of(ex: dict) -> str:
    """Everything said about an exercise, lower-cased, for fact checks."""
    parts = [ex["name"], *ex["steps"], *ex.get("tips", []), *ex.get("harder", []),
             *ex.get("equipment", []), *ex.get("optional_equipment", []), *ex.get("parts", [])]
    return " ".join(parts).lower()


def all_sentences(routine: dict) -> list[str]:
    """Every spoken string in a routine."""
    out = [routine["title"], *routine.get("intro", []), *routine["safety"],
           *routine.get("equipment", [])]
    for entry in routine.get("pain_guide", []):
        out += [entry["name"], *entry["signs"], *entry["care"]]
    for ex in routine["exercises"]:
        out += [ex["name"], *ex["steps"], *ex.get("tips", []), *ex.get("harder", []),
                *ex.get("equipment", []), *ex.get("optional_equipment", []), *ex.get("parts", []),
                *ex.get("sides", [])]
    return out


# --------------------------------------------------------------------------- format


@pytest.fixture(params=sorted(FILES), name="routine")
def _routine(request) -> dict:
    return load(request.param)


def test_four_routine_files_exist():
    assert sorted(p.name for p in ROUTINES.glob("*.yaml")) == sorted(FILES.values())


def test_name_matches_file(routine):
    assert FILES[routine["name"]] == f"{routine['name']}.yaml"


def test_required_fields_and_known_fields_only(routine):
    assert set(routine) <= TOP_FIELDS
    assert routine["title"].strip()
    assert routine["source"].strip()
    assert routine["safety"] and all(isinstance(s, str) and s for s in routine["safety"])
    assert 1 <= len(routine["intro"]) <= 3
    assert routine["exercises"]
    for ex in routine["exercises"]:
        assert set(ex) <= EXERCISE_FIELDS, (ex["name"], set(ex) - EXERCISE_FIELDS)
        assert ex["steps"] and all(isinstance(s, str) and s for s in ex["steps"])
        assert ("reps" in ex) != ("hold_seconds" in ex), ex["name"]
        for field in ("sets", "reps", "hold_seconds"):
            if field in ex:
                low, high = as_range(ex[field])
                assert 0 < low <= high, (ex["name"], field)
        if "tempo" in ex:
            assert set(ex["tempo"]) <= TEMPO_FIELDS
            assert all(isinstance(v, int | float) and v >= 0 for v in ex["tempo"].values())
        if "sides" in ex:
            assert len(ex["sides"]) == 2 and len(set(ex["sides"])) == 2, ex["name"]


def test_exercise_names_unique(routine):
    names = [ex["name"] for ex in routine["exercises"]]
    assert len(names) == len(set(names))


def test_aliases_are_short_and_unique_across_routines():
    seen: dict[str, str] = {}
    for name in FILES:
        routine = load(name)
        assert routine["aliases"]
        for alias in routine["aliases"]:
            assert 1 <= len(alias.split()) <= 3, alias
            assert alias not in seen, f"{alias!r} in both {seen.get(alias)} and {name}"
            seen[alias] = name


def test_helps_with_uses_pain_guide_ids():
    guide = load("step-and-band")["pain_guide"]
    ids = {entry["id"] for entry in guide}
    assert ids == PAIN_IDS
    for entry in guide:
        assert set(entry) == PAIN_FIELDS
        assert entry["signs"] and entry["care"]
    for name in FILES:
        helps = load(name)["helps_with"]
        assert helps and set(helps) <= ids, name


def test_spoken_text_is_short_and_clean(routine):
    phone = re.compile(r"\d{3}[-. ]\d{3}[-. ]\d{4}|\+\d|\(\d{3}\)")
    for text in all_sentences(routine):
        low = text.lower()
        assert "@" not in text and "http" not in low and "www" not in low, text
        assert not phone.search(text), text
        for banned in ("check out", "buyer", "consultation", "reach out to", "email", "phone"):
            assert banned not in low, text
        for sentence in re.split(r"(?<=[.!?])\s+", text.strip()):
            assert len(sentence.split()) < 25, sentence


def test_steps_do_not_count_reps_for_the_coach(routine):
    for ex in routine["exercises"]:
        for step in ex["steps"]:
            assert not re.search(r"\brepeat\b.*\d+\s*(times|reps|repetitions)", step.lower()), step


# ------------------------------------------------------- 000: hips for knees


def test_hips_for_knees_facts():
    r = load("hips-for-knees")
    names = [ex["name"] for ex in r["exercises"]]
    assert names == [
        "Side-lying leg lifts",
        "Standing hip hikes",
        "Single-leg toe taps",
        "Standing isometric hip abduction",
    ]
    safety = " ".join(r["safety"]).lower()
    assert "physiotherapist" in safety and "sports doctor" in safety and "chiropractor" in safety
    assert "it band" in " ".join(r["intro"]).lower()
    assert set(r["helps_with"]) == {"it-band-syndrome", "runners-knee"}

    lifts = exercise(r, "Side-lying leg lifts")
    assert as_range(lifts["reps"]) == (10, 15)
    assert lifts["sets"] == 3 and len(lifts["sides"]) == 2
    assert lifts["tempo"]["top"] >= 1
    assert "left side" in text_of(lifts) and "right angle" in text_of(lifts)
    assert "straight" in text_of(lifts) and "glute" in text_of(lifts)

    hikes = exercise(r, "Standing hip hikes")
    assert as_range(hikes["reps"]) == (10, 15)
    assert hikes["sets"] == 3 and len(hikes["sides"]) == 2
    assert "step or block" in text_of(hikes)
    assert "lean" in text_of(hikes)

    taps = exercise(r, "Single-leg toe taps")
    assert taps["reps"] == 5
    assert taps["sets"] == 3 and len(taps["sides"]) == 2
    assert [p.lower() for p in taps["parts"]] == [
        "tap to the side", "tap behind you", "tap in front of you",
    ]
    assert "chair or post" in text_of(taps) and "half squat" in text_of(taps)

    press = exercise(r, "Standing isometric hip abduction")
    assert press["hold_seconds"] == 45
    assert "reps" not in press
    assert press["sets"] == 3 and len(press["sides"]) == 2
    text = text_of(press)
    assert "wall" in text and "a few inches" in text and "45 seconds" in text
    assert "as long as you can" in text and "say done" in text
    assert "a wall" in r["equipment"]


# ---------------------------------------------------------- 001: hip strength


def test_hip_strength_facts():
    r = load("hip-strength")
    names = [ex["name"] for ex in r["exercises"]]
    assert names == ["Clamshells", "Side-lying hip abduction", "Hip bridges", "Banded crab walks"]
    assert "runner's knee" in " ".join(r["intro"]).lower()
    assert "runners-knee" in r["helps_with"]
    assert any("physiotherapist" in s.lower() or "doctor" in s.lower() for s in r["safety"])

    for ex in r["exercises"]:
        assert as_range(ex["reps"]) == (10, 20), ex["name"]
        assert ex.get("sets", 1) == 1, ex["name"]

    clam = exercise(r, "Clamshells")
    assert len(clam["sides"]) == 2 and clam["tempo"]["top"] >= 1
    assert "resistance band" in " ".join(clam["harder"]).lower()

    abduction = exercise(r, "Side-lying hip abduction")
    assert len(abduction["sides"]) == 2 and abduction["tempo"]["top"] >= 1
    assert "ankle" in " ".join(abduction["harder"]).lower()

    bridges = exercise(r, "Hip bridges")
    assert "sides" not in bridges and bridges["tempo"]["top"] >= 1
    harder = " ".join(bridges["harder"]).lower()
    assert "band" in harder and "above the knees" in harder and "weight across your hips" in harder
    assert "straight line" in text_of(bridges)

    crab = exercise(r, "Banded crab walks")
    assert len(crab["sides"]) == 2
    assert all(("left" in s) or ("right" in s) for s in crab["sides"])
    text = text_of(crab)
    assert "ankles" in text and "hip-width" in text and "half squat" in text
    assert "knees in" in text


# ---------------------------------------------------------- 002: step and band


def test_step_and_band_facts():
    r = load("step-and-band")
    names = [ex["name"] for ex in r["exercises"]]
    assert names == [
        "Side step ups", "Band kick-backs", "Lateral band walks", "Cable adductor pulls",
    ]
    for ex in r["exercises"]:
        assert as_range(ex["sets"]) == (2, 3), ex["name"]
        assert as_range(ex["reps"]) == (15, 30), ex["name"]
        assert len(ex["sides"]) == 2, ex["name"]
    equipment = " ".join(r["equipment"]).lower()
    assert "step" in equipment and "band" in equipment
    assert "cable machine" in equipment and "anchor point" in equipment

    safety = " ".join(r["safety"]).lower()
    assert "doctor" in safety and "therapy" in safety

    assert "quads" in text_of(exercise(r, "Side step ups"))
    assert "balance" in text_of(exercise(r, "Side step ups"))
    assert "a step" in exercise(r, "Side step ups")["equipment"]

    kick = text_of(exercise(r, "Band kick-backs"))
    assert "tight band" in kick and "above the knees" in kick and "diagonal" in kick
    assert "it band" in kick

    walks = exercise(r, "Lateral band walks")
    text = text_of(walks)
    assert "big steps" in text and "squat stance" in text and "same number" in text
    assert "glute med" in text and "piriformis" in text
    assert "squat stance" in " ".join(walks["harder"]).lower()

    pulls = text_of(exercise(r, "Cable adductor pulls"))
    assert "ankle strap" in pulls and "anchor point" in pulls and "inner thigh" in pulls

    guide = {entry["id"]: entry for entry in r["pain_guide"]}
    rk = " ".join(guide["runners-knee"]["signs"] + guide["runners-knee"]["care"]).lower()
    assert "under the kneecap" in rk and "hills" in rk and "swell" in rk
    assert "rest" in rk and "cold" in rk and "quads" in rk
    itb = " ".join(guide["it-band-syndrome"]["signs"] + guide["it-band-syndrome"]["care"]).lower()
    assert "outer side of the knee" in itb and "overuse" in itb and "abductors" in itb
    below = guide["pain-below-kneecap"]
    below_text = " ".join(below["signs"] + below["care"]).lower()
    assert "bottom of the kneecap" in below_text and "squat" in below_text
    assert "jump" in below_text and "physical therapist" in below_text
    assert "leg extension" in below_text
    achy = guide["achy-knee-or-hip"]
    achy_text = " ".join(achy["signs"] + achy["care"]).lower()
    assert "swelling" in achy_text and "tender" in achy_text and "mobility" in achy_text
    assert "adductors" in achy_text and "abductors" in achy_text
    assert "several directions" in achy_text
    assert "achy-knee-or-hip" in r["helps_with"] and "it-band-syndrome" in r["helps_with"]


# --------------------------------------------------- 003: quads, hamstrings, glutes


def test_quads_hamstrings_glutes_facts():
    r = load("quads-hamstrings-glutes")
    names = [ex["name"] for ex in r["exercises"]]
    assert names == [
        "Leg extensions", "Lunges", "Squats", "Standing hamstring stretch",
        "Seated hamstring stretch", "Clamshells", "Hip bridges", "Squats for the glutes",
    ]
    safety = " ".join(r["safety"]).lower()
    assert "does not replace" in safety and "professional" in safety
    assert {"runners-knee", "pain-below-kneecap"} <= set(r["helps_with"])
    for ex in r["exercises"]:
        assert ex.get("sets", 1) == 1, ex["name"]

    ext = exercise(r, "Leg extensions")
    assert as_range(ext["reps"]) == (10, 15) and len(ext["sides"]) == 2
    assert ext["tempo"]["top"] == 3
    assert "chair" in text_of(ext) and "lock" in text_of(ext)

    lunges = exercise(r, "Lunges")
    assert as_range(lunges["reps"]) == (10, 12) and len(lunges["sides"]) == 2
    assert "right angle" in text_of(lunges) and "hip-width" in text_of(lunges)

    for name in ("Squats", "Squats for the glutes"):
        squat = exercise(r, name)
        assert as_range(squat["reps"]) == (10, 12) and "sides" not in squat
        text = text_of(squat)
        assert "shoulder-width" in text and "heels" in text and "comfortable" in text
        assert "in line with your toes" in text and "past" in text

    for name in ("Standing hamstring stretch", "Seated hamstring stretch"):
        stretch = exercise(r, name)
        assert as_range(stretch["hold_seconds"]) == (20, 30) and "reps" not in stretch
        assert len(stretch["sides"]) == 2
        assert "back of your thigh" in text_of(stretch)
    assert "low stool or step" in text_of(exercise(r, "Standing hamstring stretch"))
    assert "inner thigh" in text_of(exercise(r, "Seated hamstring stretch"))

    clam = exercise(r, "Clamshells")
    assert as_range(clam["reps"]) == (10, 12) and len(clam["sides"]) == 2
    assert clam["tempo"]["top"] == 3 and "feet together" in text_of(clam)

    bridges = exercise(r, "Hip bridges")
    assert as_range(bridges["reps"]) == (10, 15) and "sides" not in bridges
    assert bridges["tempo"]["top"] == 3 and "heels" in text_of(bridges)
