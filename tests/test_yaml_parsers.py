"""The routine loader answers the same whether or not PyYAML was built with libyaml.

PyYAML parses either with libyaml (C) or in pure Python, depending on how it was built and
installed, and the two do not agree on every file.  The loader's answer for a file (the
routine, or every problem message) must not depend on which PyYAML a machine has: each file
here is loaded by a Python whose PyYAML has libyaml and by one whose PyYAML has not.
"""

from __future__ import annotations

import json
import random
import subprocess
import sys
from pathlib import Path

import pytest
import yaml

REPO = Path(__file__).resolve().parents[1]
BAD = sorted((REPO / "tests" / "fixtures" / "bad").glob("*.yaml"))
GOOD = sorted((REPO / "routines").glob("*.yaml")) + [REPO / "tests" / "fixtures" / "mini.yaml"]

# Loads each file named on the command line and prints one JSON answer per file.  With
# "without-libyaml" it first hides PyYAML's C extension, as on a build that has none.
LOAD_ALL = """
import json, sys
if sys.argv[1] == "without-libyaml":
    sys.modules["yaml._yaml"] = None
import yaml
from voicecoach.core.routine import RoutineError, load_routine
print(json.dumps(yaml.__with_libyaml__))
for name in sys.argv[2:]:
    try:
        answer = load_routine(name).to_json()
    except RoutineError as exc:
        answer = [str(p) for p in exc.problems]
    print(json.dumps(answer))
"""


def answers(mode: str, files: list[Path]) -> tuple[bool, list[object]]:
    proc = subprocess.run(
        [sys.executable, "-c", LOAD_ALL, mode, *map(str, files)],
        capture_output=True, text=True, timeout=120, check=True, cwd=REPO,
    )  # fmt: skip
    first, *rest = proc.stdout.splitlines()
    return json.loads(first), [json.loads(line) for line in rest]


def damaged(tmp_path: Path, count: int) -> list[Path]:
    """Routine files with a few YAML-significant characters dropped in at random places."""
    rng = random.Random(8)
    out = []
    for n in range(count):
        lines = GOOD[n % len(GOOD)].read_bytes().split(b"\n")
        for _ in range(rng.randint(1, 3)):
            i = rng.randrange(len(lines))
            cut = rng.randrange(len(lines[i]) + 1)
            junk = rng.choice([b"[", b"]", b"{", b"}", b": ", b"- ", b"'", b'"', b"\t", b"&a ", b"*a", b"0\t"])
            lines[i] = lines[i][:cut] + junk + lines[i][cut:]
        path = tmp_path / f"damaged-{n}.yaml"
        path.write_bytes(b"\n".join(lines))
        out.append(path)
    return out


def test_answers_do_not_depend_on_libyaml(tmp_path: Path) -> None:
    deep = tmp_path / "deep.yaml"  # libyaml's own limit is 1000 levels
    deep.write_bytes(b"title: t\nsource: " + b"[" * 5000 + b"]" * 5000 + b"\n")
    files = GOOD + BAD + [deep] + damaged(tmp_path, 150)
    has_c, with_c = answers("with-libyaml", files)
    has_no_c, without_c = answers("without-libyaml", files)
    assert (has_c, has_no_c) == (True, False)  # the locked PyYAML wheels carry libyaml
    assert with_c == without_c
    assert sum(isinstance(a, dict) for a in with_c) >= len(GOOD)
    assert sum(isinstance(a, list) for a in with_c) >= len(BAD) + 1


@pytest.mark.parametrize(
    "text",
    [
        "0\t",  # libyaml: the number 0; pure Python: a tab where YAML needs spaces
        "title: t\nsource: [a, b\nsafety: x\n",  # the two word this error differently
        "title: t\nsource: " + "[" * 1001 + "]" * 1001 + "\n",  # libyaml stops at its own limit
    ],
)
def test_libyaml_disagrees_with_pure_python_on(text: str) -> None:
    # Why the loader never uses libyaml, even where PyYAML has it.
    if not yaml.__with_libyaml__:
        pytest.skip("this PyYAML has no libyaml to compare with")

    def outcome(loader: type) -> str:
        try:
            return repr(list(yaml.parse(text, Loader=loader))[-3:])
        except yaml.YAMLError as exc:
            return f"error: {getattr(exc, 'problem', exc)}"

    assert outcome(yaml.CSafeLoader) != outcome(yaml.SafeLoader)
