"""What the coach says is easy to follow by ear: equipment in short separate sentences,
optional things named with the exercise that uses them, harder versions after the sets or
on "harder", and holds counted on each leg."""

from __future__ import annotations

from pathlib import Path

from sessiondriver import Driver

from voicecoach.core.commands import help_names, parse
from voicecoach.core.plan import HARDER_LEAD, Plan, equipment_sentences, side_word
from voicecoach.core.routine import load_routine

ROUTINES = Path(__file__).resolve().parent.parent / "routines"


def plan_of(name: str) -> Plan:
    return Plan(load_routine(ROUTINES / f"{name}.yaml"))


def said(plan: Plan, kind: str, exercise: int | None = None) -> list[str]:
    """The sentences of the first block of `kind` (for `exercise`)."""
    block = next(b for b in plan.blocks if b.kind == kind and (exercise is None or b.exercise == exercise))
    return [c.text for c in block.cues]


def test_equipment_is_said_as_short_separate_sentences():
    assert equipment_sentences(["a wall"], "You will need") == ["You will need a wall."]
    assert equipment_sentences([], "You need") == []
    intro = said(plan_of("hips-for-knees"), "intro")
    start = intro.index("You will need 2 things.")
    assert intro[start + 1:start + 3] == ["A step or block.", "A wall."]
    intro = said(plan_of("step-and-band"), "intro")
    start = intro.index("You will need 3 things.")
    assert intro[start + 1:start + 4] == [
        "A step.", "A resistance band.", "A cable machine with an ankle strap, or a band and an anchor point."]


def test_optional_equipment_is_named_with_the_exercise_that_uses_it():
    plan = plan_of("hips-for-knees")
    intro = " ".join(said(plan, "intro"))
    assert "chair" not in intro
    assert "Some exercises can use other things too. I'll name them with those exercises." in intro
    taps = [e for e, ex in enumerate(plan.routine.exercises) if ex.name == "Single-leg toe taps"][0]
    assert "You can also use a chair or post to steady you." in said(plan, "exercise", taps)

    plan = plan_of("hip-strength")
    intro = said(plan, "intro")
    assert "You will need a resistance band." in intro
    assert not any("weight" in line for line in intro)  # only the harder versions use one
    assert said(plan, "exercise", 1)[1] == "You can also use an ankle weight, to make it harder."
    # Optional things never turn up in what the routine needs.
    assert all("harder" not in item for item in plan.routine.all_equipment())


def test_harder_versions_are_said_after_the_sets_not_before():
    plan = plan_of("hip-strength")
    clam = plan.routine.exercises[0]
    assert clam.harder
    assert not set(clam.harder) & set(said(plan, "exercise", 0))
    kinds = [(b.kind, b.exercise) for b in plan.blocks]
    harder = kinds.index(("harder", 0))
    assert kinds[harder - 1][0] in ("reps", "hold") and kinds[harder - 1][1] == 0
    assert kinds[harder + 1] == ("exercise", 1)
    assert said(plan, "harder", 0) == [HARDER_LEAD, *clam.harder]
    # An exercise without harder versions has no such block.
    walks = len(plan.routine.exercises) - 1
    assert not plan.routine.exercises[walks].harder and ("harder", walks) not in kinds


def test_a_session_says_the_harder_version_after_the_last_set():
    d = Driver(str(ROUTINES / "hip-strength.yaml"))
    d.until_block("exercise", 1)
    texts = d.texts()
    harder = list(d.plan.routine.exercises[0].harder)
    i = texts.index(HARDER_LEAD)
    assert texts[i - 1] == "Good. That set is done."
    assert texts[i + 1:i + 1 + len(harder)] == harder
    assert texts[i + 1 + len(harder)] == "Exercise 2 of 4: Side-lying hip abduction."
    assert len(d.events("set_finished")) == 2  # both sides of the one set came first


def test_the_harder_command():
    assert parse("harder").name == parse("make it harder").name == "harder"
    assert "harder" in help_names()
    d = Driver(str(ROUTINES / "hip-strength.yaml"))
    assert d.say("harder")[-1].text == "Say harder during an exercise to hear how to make it harder."
    d.until_block("reps", 1)  # side-lying hip abduction, mid-set
    before = d.session.block
    reply = d.say("harder")[-1].text
    assert reply == HARDER_LEAD + " Strap a weight around your ankle to make it harder."
    assert d.session.block is before  # the set carries on
    d.until_block("exercise", 3)  # crab walks: no harder version in the article
    assert d.say("harder")[-1].text == "I don't have a harder version of Banded crab walks."


def test_the_wall_press_is_three_holds_on_each_leg():
    plan = plan_of("hips-for-knees")
    e = [i for i, ex in enumerate(plan.routine.exercises) if ex.name == "Standing isometric hip abduction"][0]
    ex = plan.routine.exercises[e]
    assert side_word(ex.sides) == "leg" and side_word(("stepping to your left", "stepping to your right")) == "side"
    summary = plan.work_summary(ex)
    # A hold for as long as you can: the goal, not a fixed time.
    assert summary.startswith("3 holds on each leg, each as long as you can, working up to 45 seconds")
    assert "set" not in summary
    first = said(plan, "hold", e)[0]
    assert first.startswith("Hold 1 of 3, left leg on the wall.")
    rests = [b for b in plan.blocks if b.kind == "rest" and b.exercise == e]
    assert rests and rests[0].cues[0].text.endswith("Next: Hold 2 of 3, left leg on the wall.")
    # Sets of reps on each side are rounds (a round is a set on each side).
    assert said(plan, "reps", 0)[0].startswith("Round 1 of 3, right leg on top.")
