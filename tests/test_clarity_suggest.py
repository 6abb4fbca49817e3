"""`voicecoach suggest` knows the guide's own names and common ways of saying where it hurts,
and says so, listing the kinds it knows, when the words are about something else."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest

from voicecoach.core.suggest import format_suggestions


def best(description: str) -> list[str]:
    """The kinds named as the best fit (none when nothing matched)."""
    text, code = format_suggestions(description)
    assert code == 0
    lines = text.splitlines()
    if lines[0].startswith("Nothing in the guide matches"):
        return []
    assert lines[0] in ("This sounds most like:", "This could be one of:"), lines[0]
    return [line for line in lines[1:] if line and not line.startswith(" ") and not line.startswith("This is")]


RUNNERS_KNEE = "Runner's knee, or patellofemoral syndrome"
IT_BAND = "IT band syndrome"


@pytest.mark.parametrize("said, kinds", [
    ("IT band", [IT_BAND]),
    ("my IT band hurts", [IT_BAND]),
    ("iliotibial band syndrome", [IT_BAND]),
    ("ITB", [IT_BAND]),
    ("runner's knee", [RUNNERS_KNEE]),
    ("runners knee", [RUNNERS_KNEE]),
    ("Runner\u2019s knee", [RUNNERS_KNEE]),
    ("patellofemoral", [RUNNERS_KNEE]),
    ("patellofemoral pain syndrome", [RUNNERS_KNEE]),
    ("outside of the knee", [IT_BAND]),
    ("under the kneecap", [RUNNERS_KNEE]),
    ("ache below the kneecap", ["Ache below the kneecap"]),
    # Both front-of-knee kinds fit; neither is dropped.
    ("front of my knee", [RUNNERS_KNEE, "Ache below the kneecap"]),
    ("pain at the front of the knee", [RUNNERS_KNEE, "Ache below the kneecap"]),
])
def test_names_and_common_phrasings_find_their_kind(said: str, kinds: list[str]):
    assert best(said) == kinds


@pytest.mark.parametrize("said", ["lower back pain", "under my foot", "it hurts under my foot",
                                  "the side of my neck", "purple elephant", "behind my heel"])
def test_other_complaints_get_no_knee_condition(said: str):
    assert best(said) == []


def test_no_match_says_so_and_lists_the_kinds():
    text, _ = format_suggestions("lower back pain")
    lines = text.splitlines()
    assert lines[:3] == ['Nothing in the guide matches "lower back pain".',
                         "It covers only pain in the knee, and the hip that strains it.",
                         "The kinds of knee pain it knows:"]
    kinds = [line for line in lines if line.startswith("  - ")]
    assert [k.split(":")[0] for k in kinds] == [
        f"  - {RUNNERS_KNEE}", f"  - {IT_BAND}", "  - Ache below the kneecap", "  - Achy knee or hip with swelling"]
    assert "under the kneecap" not in text.lower().split("knows:")[0]  # no condition offered as the answer
    # Words that are simply unknown get the list without the note about other parts of the body.
    other, _ = format_suggestions("purple elephant")
    assert "covers only pain in the knee" not in other and "The kinds of knee pain it knows:" in other


def test_the_command_line_answers_a_common_name(tmp_path: Path):
    env = {k: v for k, v in os.environ.items() if not k.startswith(("VOICECOACH_", "XDG_"))}
    env.update({"HOME": str(tmp_path), "XDG_CONFIG_HOME": str(tmp_path / "config")})  # no user routines
    proc = subprocess.run([sys.executable, "-m", "voicecoach", "suggest", "runner's", "knee"],
                          capture_output=True, text=True, timeout=60, env=env)
    assert proc.returncode == 0, proc.stderr
    assert proc.stdout.splitlines()[:2] == ["This sounds most like:", RUNNERS_KNEE]
