"""Benchmark the command recognizers against issue targets: right, false firing, latency, CPU, memory.

    python benchmarks/recognition.py [--quick] [--split report|tune|all] [--engines auto,sphinx]

By default it measures the engine that `auto` picks (what a user gets after
./install.sh) on the *report* share of speakers and voices (benchmarks/hearing_corpus.py):
settings are tuned on the other share only (`--split tune`), so the figures stand
for people the engine was never tuned on.  Conditions: clean, real noise at 12 and
6 dB, and far-field (reverberant and 10-16 dB quieter).

Every clip goes through `voicecoach.app.recognize.ClipRunner`, the same path as
`voicecoach recognize`: 100 ms chunks, the endpointer, the engine, with the state
reset between clips.  Each engine runs in a child process of its own so its peak
memory is its own.  Decision latency is the audio from the end of the speech to
the chunk in which the command was decided, plus the wall time that chunk took to
compute (one thread).  Listening CPU is measured on a minute of people talking
without pause (human recordings back to back) and on 30 s of quiet room tone.
"""

from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import numpy as np

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO))
sys.path.insert(0, str(Path(__file__).resolve().parent))

from hearing_corpus import (  # noqa: E402
    ANSWERS,
    CONDITIONS,
    LEAD_S,
    RATE,
    REPORT_VOICES,
    TUNE_VOICES,
    apply,
    espeak_clips,
    human_clips,
    synth,
)

from voicecoach import commands  # noqa: E402
from voicecoach.app.recognize import ClipRunner  # noqa: E402

TARGETS = {  # issue 9
    "human right clean": 0.95, "human right noise12": 0.85, "human right noise6": 0.75, "human right far": 0.85,
    "human other firing": 0.01, "coach lines firing": 0.0, "latency p95 ms": 400,
    "cpu talking": 0.10, "cpu silence": 0.01, "peak mb": 300,
}


def build(split: str, quick: bool, cache: Path, human_only: bool = False) -> list[dict]:
    """Every clip to run: the source clip under each condition it is measured in."""
    rng = np.random.default_rng(20261205)
    base = [c for c in human_clips() if split == "all" or c["split"] == split]
    voices = {"report": REPORT_VOICES, "tune": TUNE_VOICES, "all": TUNE_VOICES + REPORT_VOICES}[split]
    if quick:
        voices = voices[:2]
    synthetic = [] if human_only else espeak_clips(cache, voices, split) + idle_clips(cache, voices, split)
    clips = []
    for cond in CONDITIONS:
        if quick and cond not in ("clean", "noise6"):
            continue
        for i, c in enumerate(base):
            clips.append({**c, "condition": cond, "samples": apply(c["samples"], cond, rng, i),
                          "speech_end": LEAD_S + len(c["samples"]) / RATE})
        if cond in ("clean", "far"):  # the coach's own lines reach the microphone as echo
            for i, c in enumerate(synthetic):
                clips.append({**c, "condition": cond, "samples": apply(c["samples"], cond, rng, i),
                              "speech_end": LEAD_S + len(c["samples"]) / RATE})
    return clips


def idle_clips(cache: Path, voices: list[tuple[str, int, int]], split: str) -> list[dict]:
    """`serve`'s start phrases ("start hips", "coach, start hips") for every routine, in espeak voices."""
    from voicecoach.app.serve import WAKE_WORD, build_menu

    out = []
    for item in build_menu().items:
        for v in voices:
            for text in (f"start {item.say}", f"{WAKE_WORD}, start {item.say}"):
                out.append({"source": "idle-start", "text": text, "expected": item.name,
                            "speaker": f"espeak:{v[0]}", "split": split, "samples": synth(text, *v, cache)})
    return out


def idle_pass(engine: str, clips: list) -> dict:
    """`serve`'s idle listening: its start phrases right, and false starts per hour of other talk."""
    from voicecoach.app.serve import build_menu
    from voicecoach.voice.engines import choose

    menu = build_menu()
    recognizer = choose(engine, phrases=menu.phrases()).recognizer
    runner = ClipRunner(recognizer)
    right = total = false_starts = 0
    talk_s = 0.0
    for c in clips:
        idle = c["source"] == "idle-start"
        if not (idle or c["condition"] in ("clean", "noise12") and c["source"] in ("human", "coach")):
            continue
        started = []
        for h in runner.run(c["samples"], tail_s=0.0):
            match = menu.match(h.text)
            if match is not None and match[0] == "start":
                started.append(match[1].name)
        if idle:
            total += 1
            right += started == [c["expected"]]
        else:
            talk_s += len(c["samples"]) / RATE - LEAD_S
            false_starts += bool(started)
    return {"right": right, "total": total, "false_starts": false_starts, "talk_s": talk_s}


# -- one engine, in a child process -----------------------------------------------


def worker(engine: str, corpus_file: str, tuning: str | None = None) -> dict:
    """Run every clip through one engine; return raw per-clip outcomes and costs."""
    from voicecoach.voice.engines import make_recognizer

    t0 = time.perf_counter()
    recognizer, note = make_recognizer(engine)
    load_s = time.perf_counter() - t0
    if tuning:  # trying other settings on the tuning share: KEY=VALUE,... of the engine's Tuning
        import dataclasses

        base = recognizer.tuning
        changes = dict(kv.split("=", 1) for kv in tuning.split(","))
        recognizer.tuning = dataclasses.replace(base, **{k: type(getattr(base, k))(v) for k, v in changes.items()})
    runner = ClipRunner(recognizer)

    quiet = np.random.default_rng(7).normal(0, 30, 30 * RATE).astype(np.int16)
    t0 = time.process_time()
    runner.run(quiet, tail_s=0.0)
    cpu_silence = (time.process_time() - t0) / 30.0
    # People talking without pause: the human recordings back to back, 60 s.
    talk = [(c["samples"] * 32768).astype(np.int16) for c in human_clips()]
    talk = np.concatenate(talk)[: 60 * RATE] if talk else quiet
    t0 = time.process_time()
    runner.run(talk, tail_s=0.0)
    cpu_talking = (time.process_time() - t0) / (len(talk) / RATE)
    # The engine's own peak, before the corpus is loaded into this process.
    engine_mb = peak_rss_mb()
    del talk
    data = np.load(corpus_file, allow_pickle=True)
    clips = list(data["clips"])

    # CPU and wall time of each chunk in which a command was decided.  On a machine that
    # other work loads, the wall time waits for the other work; the CPU time is what the
    # decision costs on a device of its own, and latency is counted with it.
    decide_s: list[tuple[float, float]] = []
    accept = recognizer.accept

    def timed_accept(pcm: bytes) -> list:
        t, c = time.perf_counter(), time.process_time()
        out = accept(pcm)
        if out:
            decide_s.append((time.process_time() - c, time.perf_counter() - t))
        return out

    recognizer.accept = timed_accept
    verbose = bool(os.environ.get("BENCH_VERBOSE"))  # every miss and false firing, on stderr
    outcomes = []
    for c in clips:
        if c["source"] == "idle-start":  # heard in the idle pass below
            outcomes.append({"heard": [], "compute": None})
            continue
        before = len(decide_s)
        heard = runner.run(c["samples"], tail_s=0.0)
        compute = decide_s[before] if len(decide_s) > before else None
        outcomes.append({"heard": [(h.command.name, h.text, h.emitted) for h in heard], "compute": compute})
        wanted = [c["expected"]] if c.get("expected") else []
        if verbose and [h.command.name for h in heard] != wanted:
            print(f"  {c['condition']:8s} {c['source']:15s} {c['text']!r} -> {[h.text for h in heard]}",
                  file=sys.stderr)
    # Yes and no are listened for only while a question is open: the human recordings
    # again, as answers (every other word must still not fire).
    recognizer.listen_for_answers(True)
    answers = {}
    for i, c in enumerate(clips):
        if c["source"] == "human":
            answers[i] = [h.command.name for h in runner.run(c["samples"], tail_s=0.0)]
    recognizer.listen_for_answers(False)
    # Pain scores: numbers are listened for only while the coach asks for one.
    recognizer.listen_for_numbers(True)
    numbers = []
    for i, c in enumerate(clips):
        if c["condition"] == "clean" and c["text"] in commands.NUMBER_WORDS and c["source"] == "human":
            heard = runner.run(c["samples"], tail_s=0.0)
            numbers.append((i, [(h.command.name, h.command.value) for h in heard]))
    recognizer.listen_for_numbers(False)
    idle = idle_pass(engine, clips) if any(c["source"] == "idle-start" for c in clips) else None
    return {"engine": getattr(recognizer, "name", engine), "note": note, "outcomes": outcomes, "answers": answers,
            "idle": idle,
            "numbers": numbers, "load_s": load_s, "cpu_silence": cpu_silence, "cpu_talking": cpu_talking,
            "maxrss_mb": engine_mb}


def peak_rss_mb() -> float:
    """This process's peak resident memory in MB (VmHWM)."""
    for line in Path("/proc/self/status").read_text().splitlines():
        if line.startswith("VmHWM:"):
            return int(line.split()[1]) / 1024
    return float("nan")


# -- figures ---------------------------------------------------------------------------


def summarize(clips: list[dict], result: dict) -> tuple[list[tuple[str, str, str]], dict]:
    """Rows of (label, figure, target verdict) and the headline figures."""
    rows: list[tuple[str, str, str]] = []
    figures: dict[str, float] = {}
    pairs = list(zip(clips, result["outcomes"], strict=True))

    def verdict(key: str, value: float, higher_is_better: bool) -> str:
        if key not in TARGETS:
            return ""
        target = TARGETS[key]
        ok = value >= target if higher_is_better else value <= target
        return f"{'met' if ok else 'NOT met'} (target {'>=' if higher_is_better else '<='} {target:g})"

    def right(sel: list) -> float:
        return sum(1 for c, o in sel if [h[0] for h in o["heard"]] == [c["expected"]]) / max(1, len(sel))

    def firing(sel: list) -> float:
        return sum(1 for _, o in sel if o["heard"]) / max(1, len(sel))

    # Yes and no count as commands while a question is open (the answers pass) and as
    # nothing otherwise; every other command counts in the ordinary pass.
    asked = {int(i): names for i, names in result["answers"].items()}
    for i, (c, _) in enumerate(pairs):
        if c["expected"] in ANSWERS and c["source"] == "human":
            pairs[i] = (c, {"heard": [(n, "", 0.0) for n in asked[i]], "compute": None})
    for cond in CONDITIONS:
        human = [(i, c, o) for i, (c, o) in enumerate(pairs) if c["source"] == "human" and c["condition"] == cond]
        pos = [(c, o) for _, c, o in human if c["expected"]]
        neg = [(c, o) for _, c, o in human if not c["expected"]]
        if pos:
            key = f"human right {cond}"
            figures[key] = right(pos)
            rows.append((f"human commands right, {cond}", f"{figures[key]:6.1%} (n={len(pos)})",
                         verdict(key, figures[key], True)))
        if neg:
            fire = firing(neg)
            figures[f"human other firing {cond}"] = fire
            rows.append((f"  other human speech firing, {cond}", f"{fire:6.1%} (n={len(neg)})",
                         verdict("human other firing", fire, False)))
            fire_q = sum(1 for i, c, _ in human if not c["expected"] and asked[i]) / len(neg)
            figures[f"human other firing, question open, {cond}"] = fire_q
            rows.append((f"  ... while a yes/no question is open, {cond}", f"{fire_q:6.1%} (n={len(neg)})",
                         verdict("human other firing", fire_q, False)))
        for source, label in (("espeak-command", "espeak commands right"), ("espeak-other", "  espeak other firing"),
                              ("coach", "  coach's own lines firing")):
            sel = [(c, o) for c, o in pairs if c["source"] == source and c["condition"] == cond
                   and c["expected"] not in ANSWERS]  # espeak's answers are not re-run as answers
            if not sel:
                continue
            value = right(sel) if source == "espeak-command" else firing(sel)
            key = "coach lines firing" if source == "coach" else ""
            figures[f"{source} {cond}"] = value
            rows.append((f"{label}, {cond}", f"{value:6.1%} (n={len(sel)})",
                         verdict(key, value, False) if key else ""))
    idle = result.get("idle")
    if idle and idle["total"]:
        figures["serve start right"] = idle["right"] / idle["total"]
        figures["serve false starts per hour"] = idle["false_starts"] / max(idle["talk_s"], 1e-9) * 3600
        rows.append(("serve: start phrases right (espeak, clean and far)",
                     f"{figures['serve start right']:6.1%} (n={idle['total']})", ""))
        rows.append(("serve: false starts per hour of other talk",
                     f"{figures['serve false starts per hour']:.1f} ({idle['false_starts']} in "
                     f"{idle['talk_s'] / 60:.0f} min of human words and coach lines, clean and 12 dB)", ""))
    said = [(clips[i], o) for i, o in result["numbers"]]
    if said:
        ok = sum(1 for c, o in said if o == [["number", commands.NUMBER_WORDS.index(c["text"])]])
        rows.append(("human digits 0-10 when asked, clean", f"{ok / len(said):6.1%} (n={len(said)})", ""))
    lat: dict[str, list[float]] = {}
    for c, o in pairs:
        names = [h[0] for h in o["heard"]]
        if c["expected"] and names == [c["expected"]] and o["compute"] is not None:
            lat.setdefault(c["condition"], []).append(o["heard"][0][2] - c["speech_end"] + o["compute"][0])
    every = [x for xs in lat.values() for x in xs]
    if every:
        figures["latency p95 ms"] = float(np.percentile(every, 95) * 1000)
        rows.append(("decision after speech end (audio + CPU)",
                     f"p50 {np.median(every) * 1000:4.0f} ms, p95 {figures['latency p95 ms']:4.0f} ms (n={len(every)})",
                     verdict("latency p95 ms", figures["latency p95 ms"], False)))
        for cond, xs in lat.items():
            rows.append((f"  {cond}", f"p50 {np.median(xs) * 1000:4.0f} ms, p95 {np.percentile(xs, 95) * 1000:4.0f} ms "
                         f"(n={len(xs)})", ""))
    computes = np.array([o["compute"] for _, o in pairs if o["compute"] is not None])
    if len(computes):
        for col, label in ((0, "CPU"), (1, "wall, on this shared machine")):
            rows.append((f"  computing the decision ({label}, 1 thread)",
                         f"p50 {np.median(computes[:, col]) * 1000:4.0f} ms, "
                         f"p95 {np.percentile(computes[:, col], 95) * 1000:4.0f} ms", ""))
    for key, label in (("cpu talking", "CPU while people talk without pause"),
                       ("cpu silence", "CPU listening to a quiet room")):
        value = result[key.replace(" ", "_")]
        figures[key] = value
        rows.append((label, f"{value:.2%} of one core", verdict(key, value, False)))
    figures["peak mb"] = result["maxrss_mb"]
    rows.append(("peak memory (VmHWM)", f"{result['maxrss_mb']:.0f} MB",
                 verdict("peak mb", result["maxrss_mb"], False)))
    rows.append(("model load (wall)", f"{result['load_s']:.1f} s", ""))
    return rows, figures


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--quick", action="store_true", help="clean and 6 dB only, 2 espeak voices: a few minutes")
    ap.add_argument("--split", choices=("report", "tune", "all"), default="report",
                    help="which share of speakers and voices to measure (default: report)")
    ap.add_argument("--engines", default="auto", help="comma-separated engines (default: auto)")
    ap.add_argument("--json", metavar="FILE", help="also write every figure to FILE")
    ap.add_argument("--human-only", action="store_true", help="leave out the espeak voices (faster)")
    ap.add_argument("--tuning", metavar="KEY=VALUE,...",
                    help="override the engine's decision settings (for runs on the tuning share)")
    ap.add_argument("--worker", nargs=2, metavar=("ENGINE", "CORPUS"), help=argparse.SUPPRESS)
    ap.add_argument("--out", help=argparse.SUPPRESS)
    args = ap.parse_args(argv)

    if args.worker:
        Path(args.out).write_text(json.dumps(worker(*args.worker, tuning=args.tuning)))
        return 0

    cache = Path(tempfile.gettempdir()) / "voicecoach-bench-cache"
    cache.mkdir(exist_ok=True)
    t0 = time.time()
    clips = build(args.split, args.quick, cache, args.human_only)
    humans = sum(1 for c in clips if c["source"] == "human")
    print(f"corpus: {len(clips)} clips ({humans} human) on the {args.split} share, built in {time.time() - t0:.0f} s"
          + ("" if humans else " (no ../shared/speech: human recordings skipped)"))
    everything = {}
    with tempfile.TemporaryDirectory() as tmp:
        corpus_file = os.path.join(tmp, "corpus.npz")
        arr = np.empty(len(clips), dtype=object)
        arr[:] = [{"samples": c["samples"], "condition": c["condition"], "text": c["text"], "source": c["source"],
                   "expected": c["expected"]} for c in clips]
        np.savez(corpus_file, clips=arr)
        for engine in [e.strip() for e in args.engines.split(",") if e.strip()]:
            out = os.path.join(tmp, f"{engine}.json")
            t0 = time.time()
            cmd = [sys.executable, __file__, "--worker", engine, corpus_file, "--out", out]
            proc = subprocess.run(cmd + (["--tuning", args.tuning] if args.tuning else []))
            if proc.returncode != 0:
                print(f"\n{engine}: failed to run (exit {proc.returncode})")
                continue
            result = json.loads(Path(out).read_text())
            rows, figures = summarize(clips, result)
            everything[engine] = {"engine": result["engine"], **figures}
            print(f"\n== {engine} -> {result['engine']} ({time.time() - t0:.0f} s)"
                  + (f": {result['note']}" if result.get("note") else "") + " ==")
            for label, value, target in rows:
                print(f"{label:50s} {value:34s} {target}")
    if args.json:
        Path(args.json).write_text(json.dumps(everything, indent=2))
    return 0


if __name__ == "__main__":
    sys.exit(main())
