"""Barge-in in the virtual room: commands said over the coach's speech, and the coach's
own voice through the echo path with nobody talking.

    python benchmarks/barge_in.py [--quick] [--split report|tune|all] [--routines all]
                                  [--limit N] [--voices 5] [--real 10] [--gap 0.6]
                                  [--drift-ppm 0] [--skip-self] [--skip-commands]
                                  [--record FILE]

The room (tests/audio_room.py) passes the coach's speaker to the microphone through
`room_paths.COACH` (delay, reverberation, a speaker a metre away) and the user's voice
through `room_paths.USER`.  The listener is the one `voicecoach run` uses: the room's
microphone, the gate, the echo canceller and the default Whisper engine.

1. Commands over speech: the coach reads a long instruction; 1.5-4 s into it the user
   says one of the barge-in commands (every command, in several espeak-ng voices, and
   the real "stop" recordings in ../shared/speech/ when present).  Voices and speakers are
   split as benchmarks/recognition.py splits them (benchmarks/hearing_corpus.py: espeak
   voices to tune on and voices to report, real speakers by a hash of their id): settings
   are chosen with `--split tune`, figures are quoted from `--split report` (the default).  Acted on: the
   listener decided that command while the coach was speaking (then the coach is cut,
   as the runner's Hush does).  Cut: from the end of the command's words (the
   endpointer's end of speech) to the coach's last sample leaving the speaker.
   Then the same clips in the pauses: each said 0.4-1.2 s after a short line of the
   coach's ends, heard with barge-in as it runs; and the same microphone audio heard
   by a listener with the plain half-duplex gate (`[audio] barge_in = false`), which
   must do no better.
2. Self-triggers: every distinct line of the routines (and the coach's replies) is said
   through the room, `--gap` seconds apart, with nobody talking; every command decided
   is a self-trigger.  ERLE: the coach's echo energy at the microphone over what the
   canceller left of it, over the whole run.
3. CPU of the echo canceller, per second of audio, measured on this machine.

The room's speaker and microphone share one clock, as on one sound card: the echo's
delay stays put.  `--drift-ppm N` is a separate condition, a speaker and a microphone
on two clocks (the echo comes N millionths of a second later every second); its JSON
line carries "condition".  `--quick` is a shorter run (2 voices, 3 recordings, the
first 8 lines of each routine).

`--record FILE` keeps what the speaker played and the microphone heard, for
benchmarks/barge_in_replay.py to try other settings on in seconds (on the tune share).

Ends with one JSON line: {"acted_on", "cut_ms_p95", "self_triggers", "seconds_played", "erle_db"}.
"""

from __future__ import annotations

import argparse
import json
import random
import sys
import tempfile
import time
from pathlib import Path

import numpy as np

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO))
sys.path.insert(0, str(REPO / "tests"))

from hearing_corpus import REPORT_VOICES, SHARED, TUNE_VOICES, split_of  # noqa: E402
from self_trigger import routine_lines  # noqa: E402

from voicecoach.core.commands import BARGE_IN  # noqa: E402

VOICES = {"tune": TUNE_VOICES, "report": REPORT_VOICES, "all": TUNE_VOICES + REPORT_VOICES}
LONG_LINES = [
    "Lie on your back with one knee bent and the other leg straight. Tighten the thigh of the "
    "straight leg and lift it slowly to the height of the other knee, then lower it with control. "
    "Keep your back flat on the floor and breathe out as you lift.",
    "Stand tall behind a chair and hold its back with both hands. Lift one heel towards your "
    "bottom, keeping your knees side by side, and lower it slowly. Do not lean forward, and "
    "stop if you feel a sharp pain in the knee.",
    "Sit on the edge of a firm chair with your feet flat on the floor. Straighten one knee until "
    "the leg is level with the seat, hold it for a moment, then lower it slowly back down.",
]


class Rig:
    """The coach's speaker and the listener, in the room, with barge-in."""

    def __init__(self, record: bool = False) -> None:
        from audio_room import DEVICE

        from voicecoach.voice.barge_in import attach
        from voicecoach.voice.command_whisper import CommandWhisperRecognizer
        from voicecoach.voice.gate import Gate
        from voicecoach.voice.listener import AudioListener
        from voicecoach.voice.microphone import SoundDeviceSource
        from voicecoach.voice.speakers import AudioSpeaker, make_speaker

        self.gate = Gate(tail=0.35)
        speaker = make_speaker("pyttsx3", device=DEVICE, gate=self.gate)
        assert isinstance(speaker, AudioSpeaker)
        self.speaker = speaker
        barge_in, why = attach(speaker.player)
        assert barge_in is not None, why
        self.barge_in = barge_in
        # The microphone's chunks are always kept (the plain gate is replayed over the pauses);
        # what the speaker played only with --record.
        self.recording: dict = {"pushes": [], "chunks": [], "trials": []}
        self._record(barge_in, self.gate, self.recording, played=record)
        self.heard: list = []
        self.decisions: list[tuple[str, float, float]] = []
        """(text, score, no-speech) of every utterance judged while the coach spoke."""
        recognizer = CommandWhisperRecognizer()
        judge = recognizer.classify

        def classify(samples, **kwargs):  # a window on the engine's decisions, for choosing its threshold
            result = judge(samples, **kwargs)
            d = recognizer.last_decision or {}
            if d.get("over_coach"):
                self.decisions.append((d.get("free", ""), d.get("mass", float("-inf")), d.get("no_speech", 1.0)))
            return result

        recognizer.classify = classify  # type: ignore[method-assign]
        # On this shared machine other work can hold the microphone's callback up for
        # seconds; the coach would then say the microphone is gone and close the
        # listener, which would end the run (this measures barge-in, not that).
        source = SoundDeviceSource(DEVICE, stall_seconds=30.0)
        self.listener = AudioListener(source, recognizer, self.gate, barge_in)
        self.cut_on_command = False
        self.listener.start(self._on_heard, lambda reason: print("listener closed:", reason))
        time.sleep(0.5)

    @staticmethod
    def _record(barge_in, gate, recording: dict, played: bool) -> None:
        """Keep what the microphone captured and (`played`) what the speaker played, as they
        reach the canceller (benchmarks/barge_in_replay.py runs them through it again)."""
        push_played, process = barge_in.played.push, barge_in.process

        def push(block, rate, start, underrun=True):
            recording["pushes"].append((np.array(block, copy=True), rate, start, underrun))
            push_played(block, rate, start, underrun)

        def record_chunk(chunk):
            recording["chunks"].append((chunk.pcm, chunk.start, chunk.end, gate.is_open(chunk.start, chunk.end)))
            return process(chunk)

        if played:
            barge_in.played.push = push
        barge_in.process = record_chunk

    def save(self, path: Path) -> None:
        """The recording (each chunk says whether the gate was open for it)."""
        import pickle

        path.write_bytes(pickle.dumps(self.recording))
        print(f"recording saved to {path}")

    def _on_heard(self, heard) -> None:
        speaking = self.gate.is_speaking()
        if self.cut_on_command and speaking:
            self.speaker.stop()  # what the runner's Hush does
        self.heard.append((heard, speaking, time.monotonic()))

    def audio_time(self, t: float) -> float:
        """Monotonic time of the recognizer's audio time `t`."""
        assert self.listener.first_chunk_time is not None
        return self.listener.first_chunk_time + t

    def close(self) -> None:
        self.listener.close()
        self.speaker.close()


def user_clips(tmp: Path, voices: int, real: int, split: str) -> list[tuple[str, str, Path]]:
    """(command, who, wav) for every barge-in command in `voices` espeak voices of `split`,
    and up to `real` real recordings, by speakers of `split`, of the words that are in the
    shared corpus."""
    from speech_audio import speak

    clips = []
    for word in BARGE_IN:
        for i, (voice, rate, pitch) in enumerate(VOICES[split][:voices]):
            clips.append((word, f"espeak {voice}", speak(word, tmp / f"{word}-{i}.wav", voice, rate, pitch)))
        folder = SHARED / "gsc_v002_jackbl248" / word
        if folder.is_dir():
            ours = [w for w in sorted(folder.glob("*.wav"))
                    if split == "all" or split_of("gsc:" + w.stem.split("_")[1]) == split]
            for wav in ours[:real]:
                padded = tmp / f"real-{wav.name}"
                padded.write_bytes(pad_wav(wav))
                clips.append((word, f"real {wav.stem}", padded))
    return clips


def pad_wav(wav: Path) -> bytes:
    """The recording with 0.3 s of silence after it (they are trimmed tight)."""
    import io
    import wave

    with wave.open(str(wav)) as w:
        params, frames = w.getparams(), w.readframes(w.getnframes())
    out = io.BytesIO()
    with wave.open(out, "wb") as w:
        w.setparams(params)
        w.writeframes(frames + b"\0" * int(0.3 * params.framerate) * params.sampwidth * params.nchannels)
    return out.getvalue()


def warm_up(rig: Rig, room) -> None:
    """The coach talks until the canceller has learnt the room (as the first lines of a session do)."""
    deadline = time.monotonic() + 90
    i = 0
    while not rig.barge_in.ready and time.monotonic() < deadline:
        rig.speaker.say(LONG_LINES[i % len(LONG_LINES)])
        while rig.speaker.is_speaking() and not rig.barge_in.ready:
            time.sleep(0.1)
        i += 1
    rig.speaker.stop()
    rig.speaker.wait(5)
    print(f"warm-up: barge-in {'ready' if rig.barge_in.ready else 'NOT ready'} after {i} lines; "
          f"echo delay {rig.barge_in.delay}, recent ERLE {rig.barge_in.recent_erle_db()}", flush=True)


def commands_over_speech(rig: Rig, room, clips, seed: int = 0) -> tuple[list[bool], list[float]]:
    rng = random.Random(seed)
    acted: list[bool] = []
    cuts: list[float] = []
    rig.cut_on_command = True
    for n, (word, who, wav) in enumerate(clips, 1):
        rig.heard.clear()
        rig.decisions.clear()
        line = LONG_LINES[n % len(LONG_LINES)]
        said_at = time.monotonic()
        rig.speaker.say(line)
        time.sleep(rng.uniform(1.5, 4.0))
        ready = rig.barge_in.ready
        clip_at = time.monotonic()
        room.play_file(wav).wait(10)
        rig.recording["trials"].append((word, who, said_at, clip_at, time.monotonic(), "over"))
        deadline = time.monotonic() + 2.5
        while time.monotonic() < deadline and not any(s for _, s, _ in rig.heard):
            time.sleep(0.05)
        rig.speaker.stop()
        rig.speaker.wait(30)
        over = [(h, at) for h, speaking, at in rig.heard if speaking]
        ok = any(h.command.name == word for h, _ in over)
        acted.append(ok)
        note = ""
        if ok:
            h = next(h for h, _ in over if h.command.name == word)
            # This trial's line (the lines come round again; an earlier one is not this cut).
            cut = [u for u in rig.gate.utterances()
                   if u.text == line and u.cut_off and u.start is not None and u.start >= said_at]
            if cut and cut[-1].end is not None:
                cuts.append(cut[-1].end - rig.audio_time(h.end))
                note = f"cut {cuts[-1] * 1000:.0f} ms after the words"
        else:
            note = (f"heard {[h.command.name for h, _ in over] or 'nothing'}"
                    f"{'' if ready else ' (barge-in not ready)'}; dropped as echo "
                    f"{len(rig.listener.dropped_as_echo)}")
        judged = "; ".join(f"{t.strip()!r} {m:.2f}/{ns:.2f}" for t, m, ns in rig.decisions)
        print(f"  {n:3d}/{len(clips)} {word:7s} {who:34s} {'ok  ' if ok else 'MISS'} {note} [{judged}]", flush=True)
        time.sleep(1.0)
    rig.cut_on_command = False
    return acted, cuts


PAUSE_LINES = ["Rest for ten seconds.", "Good. Keep going.", "Change sides.", "That's the last one."]


def commands_in_pauses(rig: Rig, room, clips, seed: int = 1) -> list[bool]:
    """Each command said 0.4-1.2 s after a short line of the coach's ends (a reply, a
    runner who waited for the coach): heard by the listener with barge-in, as it runs."""
    rng = random.Random(seed)
    acted: list[bool] = []
    for n, (word, who, wav) in enumerate(clips, 1):
        said_at = time.monotonic()
        rig.speaker.say(PAUSE_LINES[n % len(PAUSE_LINES)])
        rig.speaker.wait(30)
        time.sleep(rng.uniform(0.4, 1.2))
        rig.heard.clear()
        clip_at = time.monotonic()
        room.play_file(wav).wait(10)
        rig.recording["trials"].append((word, who, said_at, clip_at, time.monotonic(), "pause"))
        deadline = time.monotonic() + 2.5
        while time.monotonic() < deadline and not any(h.command.name == word for h, _, _ in rig.heard):
            time.sleep(0.05)
        acted.append(any(h.command.name == word for h, _, _ in rig.heard))
        print(f"  {n:3d}/{len(clips)} {word:7s} {who:34s} {'ok  ' if acted[-1] else 'MISS'} "
              f"heard {[h.command.name for h, _, _ in rig.heard] or 'nothing'}", flush=True)
        time.sleep(0.5)
    return acted


def plain_gate_in_pauses(rig: Rig) -> list[bool]:
    """The same pauses, the same microphone audio, heard by a listener without barge-in
    (the half-duplex gate alone, as with `[audio] barge_in = false`)."""
    from barge_in_replay import replay

    pauses = dict(rig.recording, trials=[t for t in rig.recording["trials"] if t[5] == "pause"])
    return replay(pauses, {}, plain=True, quiet=True)["acted"]["pause"]


def self_triggers(rig: Rig, lines: list[str], gap: float) -> tuple[list, float]:
    rig.heard.clear()
    rig.decisions.clear()
    started = time.monotonic()
    for i, line in enumerate(lines, 1):
        rig.speaker.say(line)
        if not rig.speaker.wait(90):
            print(f"  the speaker never finished {line!r}")
        time.sleep(gap)
        if i % 25 == 0:
            print(f"  {i}/{len(lines)} lines, {len(rig.heard)} heard so far, ERLE "
                  f"{rig.barge_in.erle_db():.1f} dB", flush=True)
    time.sleep(1.5)
    from voicecoach.voice.command_whisper import transcript_words

    near = sorted(((m, t, ns) for t, m, ns in rig.decisions
                   if " ".join(transcript_words(t)) in BARGE_IN), reverse=True)
    print(f"  {len(rig.decisions)} utterances judged over the coach; barge-in words among them "
          f"(score/no-speech): {', '.join(f'{t.strip()!r} {m:.2f}/{ns:.2f}' for m, t, ns in near[:10]) or 'none'}")
    return list(rig.heard), time.monotonic() - started


def canceller_cpu(seconds: float = 20.0) -> float:
    """Per cent of one core the canceller takes on speech-like audio, 100 ms at a time."""
    from voicecoach.voice.echo_canceller import EchoCanceller

    rng = np.random.default_rng(0)
    ref = (rng.standard_normal(int(seconds * 16000)) * 3000).astype(np.int16)
    mic = (np.convolve(ref, [0, 0, 0.3, 0.1, -0.05])[:len(ref)]).astype(np.int16)
    ec = EchoCanceller()
    t = time.process_time()
    for i in range(0, len(ref), 1600):
        ec.process(mic[i:i + 1600], ref[i:i + 1600])
    return (time.process_time() - t) / seconds * 100


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--routines", default="all", help="comma-separated routine names, or all")
    parser.add_argument("--limit", type=int, default=None, help="only the first N lines of each routine")
    parser.add_argument("--quick", action="store_true", help="2 voices, 3 recordings, 8 lines a routine")
    parser.add_argument("--split", choices=("report", "tune", "all"), default="report",
                        help="which share of voices and speakers says the commands (tune settings on 'tune')")
    parser.add_argument("--drift-ppm", type=float, default=0.0,
                        help="the condition of a speaker and a microphone on separate clocks")
    parser.add_argument("--set", action="append", default=[], metavar="NAME=VALUE",
                        help="try another value of a setting of voicecoach/voice/barge_in.py (on --split tune)")
    parser.add_argument("--voices", type=int, default=5, help="espeak-ng voices per command")
    parser.add_argument("--real", type=int, default=10, help="real recordings per command, when present")
    parser.add_argument("--gap", type=float, default=0.6)
    parser.add_argument("--skip-self", action="store_true")
    parser.add_argument("--skip-commands", action="store_true")
    parser.add_argument("--record", type=Path, metavar="FILE",
                        help="keep the run's audio in FILE for benchmarks/barge_in_replay.py")
    args = parser.parse_args()
    import logging
    import signal

    # Stopped from outside, the room (its sound server and the air process) is stopped too.
    signal.signal(signal.SIGTERM, lambda *_: sys.exit(143))

    logging.basicConfig(level=logging.WARNING, format="  %(relativeCreated)7.0f ms %(message)s")
    logging.getLogger("voicecoach.voice.barge_in").setLevel(logging.INFO)  # barge-in on and off
    import voicecoach.voice.barge_in as settings

    for item in args.set:
        name, value = item.split("=", 1)
        setattr(settings, name, type(getattr(settings, name))(value))
        print(f"setting {name} = {value}")
    if args.quick:
        args.voices, args.real, args.limit = min(args.voices, 2), min(args.real, 3), args.limit or 8

    from audio_room import AudioRoom, pulseaudio_missing

    why = pulseaudio_missing()
    if why:
        print(why)
        return 2
    names = ([p.stem for p in sorted((REPO / "routines").glob("*.yaml"))] if args.routines == "all"
             else args.routines.split(","))
    tmp = Path(tempfile.mkdtemp(prefix="voicecoach-bargein-"))
    cpu = canceller_cpu()
    print(f"echo canceller: {cpu:.1f}% of one core (100 ms chunks, 16 kHz)")
    room = AudioRoom(tmp / "room", drift_ppm=args.drift_ppm).start()
    result: dict[str, object] = {"acted_on": None, "cut_ms_p95": None, "self_triggers": None,
                                 "seconds_played": 0.0, "erle_db": None}
    if args.drift_ppm:
        result["condition"] = f"speaker and microphone clocks {args.drift_ppm:g} ppm apart"
    print(f"split: {args.split}; room: {result.get('condition', 'one clock (no drift)')}; "
          f"voices {args.voices}, recordings {args.real}, lines {args.limit or 'all'}", flush=True)
    try:
        rig = Rig(record=args.record is not None)
        try:
            warm_up(rig, room)
            if not args.skip_commands:
                clips = user_clips(tmp, args.voices, args.real, args.split)
                print(f"commands over speech: {len(clips)} utterances", flush=True)
                acted, cuts = commands_over_speech(rig, room, clips)
                result["acted_on"] = round(sum(acted) / len(acted), 3)
                if cuts:
                    ms = sorted(c * 1000 for c in cuts)
                    result["cut_ms_p95"] = round(float(np.percentile(ms, 95)), 1)
                    print(f"acted on {sum(acted)}/{len(acted)}; cut after the words: median "
                          f"{np.median(ms):.0f} ms, p95 {result['cut_ms_p95']:.0f} ms, max {ms[-1]:.0f} ms")
                for word in BARGE_IN:
                    got = [a for a, (w, _, _) in zip(acted, clips, strict=True) if w == word]
                    print(f"  {word}: {sum(got)}/{len(got)}")
                print(f"commands in the pauses: {len(clips)} utterances", flush=True)
                in_pauses = commands_in_pauses(rig, room, clips)
                plain = plain_gate_in_pauses(rig)
                print(f"in the pauses: acted on {sum(in_pauses)}/{len(in_pauses)} with barge-in, "
                      f"{sum(plain)}/{len(plain)} by the plain gate on the same audio")
            if not args.skip_self:
                lines: list[str] = []
                for name in names:
                    routine, _timed = routine_lines(name)
                    lines += routine[: args.limit] if args.limit else routine
                lines = list(dict.fromkeys(lines))
                print(f"self-triggers: {len(lines)} distinct lines of {', '.join(names)}", flush=True)
                erle_before = (rig.barge_in.echo_energy, rig.barge_in.residual_energy)
                heard, seconds = self_triggers(rig, lines, args.gap)
                for h, speaking, _ in heard:
                    when = "over speech" if speaking else "in a pause"
                    print(f"  SELF-TRIGGER {h.command.name!r} ({h.text!r}) {when}")
                echo = rig.barge_in.echo_energy - erle_before[0]
                left = rig.barge_in.residual_energy - erle_before[1]
                result["self_triggers"] = len(heard)
                result["seconds_played"] = round(seconds, 1)
                result["erle_db"] = round(float(10 * np.log10(echo / max(left, 1.0))), 1) if echo > 0 else None
                print(f"speaker underruns {rig.barge_in.played.underruns}, re-alignments on the echo "
                      f"{rig.barge_in.shifts}, re-synchronisations {rig.barge_in.jumps}")
                print(f"fed {rig.listener.chunks_fed} chunks ({rig.listener.chunks_over_speech} over the coach), "
                      f"gated {rig.listener.chunks_gated}; dropped as echo: {len(rig.listener.dropped_as_echo)}")
            if result["erle_db"] is None and rig.barge_in.erle_db() is not None:
                result["erle_db"] = round(float(rig.barge_in.erle_db()), 1)
        finally:
            rig.close()
            if args.record is not None:
                rig.save(args.record)
    finally:
        room.stop()
    print(json.dumps(result))
    return 0


if __name__ == "__main__":
    sys.exit(main())
