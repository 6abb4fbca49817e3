"""Barge-in: the listener's echo canceller, fed with what the coach played, aligned
with the capture clock.

Audio devices skip or repeat a few milliseconds when a buffer runs dry, which moves
the echo against the reference; the filter's own echo estimate is cross-correlated
with the capture every second, and the reference shifted by what moved, so the
filter keeps what it learnt instead of learning the room again.

Until the echo path has been measured (from the coach's first seconds of speech:
`measure_delay` over what was played and what was heard) and the canceller has
learnt it well enough to remove most of the coach's voice, the listener stays
half-duplex.  Once it has, every microphone chunk is matched
with the reference samples that sounded `delay` earlier (read continuously, so the
adaptive filter sees one unbroken signal; re-synchronised only if the clocks drift
apart by more than a frame), and the canceller's residual is what the recognizer
hears.

`echo_share_db` is the double-talk check: over a stretch of audio, how much of the
microphone's energy survived cancellation.  The coach's own voice loses 20-30 dB;
a user talking over it loses only what the echo added, so a command decided on a
stretch that was mostly echo is the coach's voice leaking through, not the user.
"""

from __future__ import annotations

import logging
from collections import deque
from collections.abc import Callable
from dataclasses import dataclass

import numpy as np

from voicecoach.voice.echo_canceller import EchoCanceller
from voicecoach.voice.echo_path import MIN_CONFIDENCE, RATE, PlayedAudio, measure_delay
from voicecoach.voice.microphone import Chunk

log = logging.getLogger(__name__)

MARGIN_S = 0.01
"""The reference is fed this much early, so the direct sound is never before the filter's start."""
MEASURE_WINDOW_S = 5.0
"""Audio kept for measuring the delay."""
MEASURE_SPEECH_S = 1.5
"""Coach speech needed in that window before a measurement is tried."""
RESYNC_SAMPLES = 160
"""The reference cursor follows the clocks only when they part by more than this (10 ms)."""
TRACK_S = 1.0
"""The path's delay is checked on this much of the coach's echo at a time..."""
TRACK_MAX_SHIFT = 320
"""...for shifts of up to this many samples (20 ms): an underrun on the speaker's side skips
or repeats a few milliseconds of audio, and a speaker and a microphone on separate clocks
drift apart by a sample every few hundred milliseconds; a filter modelling the old delay
would have to learn the room again for seconds.  So the reference is moved by each shift,
and read faster or slower by the drift the shifts add up to."""
RECHECK_S = 2.0
"""Every this much of the coach's echo, the alignment of the reference fed to the filter
is measured again on the last `RECHECK_WINDOW_S` (as the delay was at first: on the
signals, not on the filter's model), and the reference moved by what the echo moved.
This finds a moved echo even when the filter has lost it (the shift tracking above needs
a filter that still models the room), so the filter, re-aligned, is right again at once
instead of learning the room from nothing."""
RECHECK_WINDOW_S = 4.0
_RECHECK_PAD = 1600  # the microphone is looked at 100 ms late, so an echo that came earlier is found too
MAX_DRIFT = 0.002
"""The largest clock difference followed (2000 ppm; real devices are within a few hundred)."""
QUIET_S = 0.8
"""After this long with no coach audio in the reference (the filter's length and the room's
tail), the microphone is passed on untouched."""
JUMP_SAMPLES = 400
"""Once measured, the reference is read sample by sample, and follows the timestamps only
when they part from it by more than this (25 ms): the microphone's side lost a block (a
listener running late on a loaded machine drops 50 ms at a time) or the speaker was
reopened.  The speaker's underruns are in the reference already (`PlayedAudio`); smaller
moves are tracked on the echo itself, and the timestamps' slow parting (tracked shifts,
drift) is followed so that it never counts as a jump."""
READY_ERLE_DB = 12.0
"""Barge-in starts once the canceller removes this much of the coach's voice (over the last
`ERLE_WINDOW_S` of it), and stops again when it has removed less than `READY_ERLE_DB - 5`
for `LOW_FOR_S` of the coach's speech: a path that changed leaves the listener
half-duplex until the filter has learnt it again.  Going off keeps what the filter
learnt and the reference's alignment (re-checked on the signals every `RECHECK_S`):
a dip is mostly the echo having moved, and the re-aligned filter is right again
within seconds, where learning the room from nothing took 10-15 s of the coach's voice.
A user talking over the coach also lowers the figure (their voice is not removed), for
as long as the command lasts: that must not close the ears it is talking to, hence the
wait."""
ERLE_WINDOW_S = 2.0
LOW_FOR_S = 4.0
RELEARN_AFTER_S = 20.0
"""A canceller that has not reached `READY_ERLE_DB` after this much of the coach's voice
(since it started, or went off) starts again from measuring the delay (it may have been
measured wrong)."""
GATE_DB = -12.0
"""While the coach's echo is there, a 10 ms frame of the residual is passed on only if it
holds at least this much of the energy the filter attributes to the echo: what the
canceller leaves of the coach's voice (20-30 dB down) is silenced, a user's word passes.
Whisper, hearing a word in silence, hears the word; with the coach's voice 40 dB down
around it, it hears "It's good" for "skip" (measured on espeak-ng voices)."""
GATE_HOLD_FRAMES = 20
"""A frame that passes keeps the gate open this many frames more: a word's quiet end (the
release of the "p" in "stop" and "skip", the "t" of "next") comes up to 200 ms after its
vowel.  Replayed on recordings of the tune share (benchmarks/barge_in_replay.py), 8 frames
acted on 17 of 37 commands over the coach, 20 frames 20 of 37, with the same self-triggers
(none) and no more of the coach's lines sent to the recognizer."""
GATE_OPEN_EARLY_FRAMES = 12
"""...and opens this many frames before it (inside the 100 ms chunk)."""
GATE_FLOOR = 10.0 ** (-60 / 10) * 32768 ** 2
"""Below this mean square (-60 dBFS) the echo estimate is too faint to gate on."""
DOUBLE_TALK_DB = -12.0
"""A command is the user's only if at least this share of the microphone's energy over its
words survived cancellation (the coach's echo alone keeps 20-30 dB less)."""
PLAYER_LATENCY_S = 0.05
"""The speaker's buffer while barge-in listens: the coach's voice is cut no sooner than
this after a command is decided.  With the room's air written through pacat the echo moved
after every underrun and a 100 ms buffer was chosen to have fewer; since underruns go into
the reference as the silence they played, they cost an audible click, not the echo's
alignment.  Measured in the room on a quiet machine (tune share): 100 ms cut the coach
285 ms (median) / 329 ms (p95) after the command's words, 50 ms cut it 188 / 239 ms."""
_LEVEL = 300  # |sample| above which the reference counts as sounding (-40 dBFS)


@dataclass
class _Energy:
    start: float
    end: float
    mic: float
    residual: float
    echo: bool


class BargeIn:
    """Cancels the coach's echo from microphone chunks, once the echo path is known."""

    def __init__(self, played: PlayedAudio,
                 make_canceller: Callable[[], EchoCanceller] = EchoCanceller) -> None:
        self.played = played
        self.delay: float | None = None
        """Seconds from a sample sounding to its echo's capture; None until measured."""
        self.confidence = 0.0
        self._make_canceller = make_canceller
        self._canceller: EchoCanceller | None = None
        self._cursor: float | None = None
        self._skew = 0.0  # where the cursor is against the timestamps, followed slowly
        self._apart = 0  # chunks in a row whose timestamps were equally far from the cursor
        self._last_apart = 0.0
        self._ratio = 1.0  # reference samples per captured sample (the clocks' drift)
        self._since_shift = 0  # captured samples since the reference was last moved
        self._pairs: deque[tuple[np.ndarray, np.ndarray]] = deque()
        self._measure_cursor: int | None = None
        self._since_try = 0.0
        self._energies: deque[_Energy] = deque(maxlen=200)
        self.echo_energy = 0.0
        """Microphone energy over chunks where the coach sounded (for ERLE)."""
        self.residual_energy = 0.0
        """...and what was left of it after cancellation."""
        self._recent_mic = self._recent_residual = 0.0
        self._echo_seconds = 0.0
        self._low_seconds = 0.0
        self._ready = False
        self._hold = 0
        self._quiet = 0.0  # seconds since the reference last sounded
        self._track: list[tuple[np.ndarray, np.ndarray]] = []
        self._fed: deque[tuple[np.ndarray, np.ndarray]] = deque()  # (reference fed, microphone)
        self._since_recheck = 0.0
        self.shifts = 0
        """How often the reference was re-aligned with the echo."""
        self.jumps = 0
        """How often it was re-synchronised with the timestamps."""

    @property
    def ready(self) -> bool:
        """Whether the coach's voice is cancelled well enough to listen over it."""
        return self._ready

    def recent_erle_db(self) -> float | None:
        """ERLE over the last seconds of the coach's voice, or None before any."""
        if self._recent_mic <= 0:
            return None
        return float(10 * np.log10(self._recent_mic / max(self._recent_residual, 1.0)))

    def _follow(self, mic_e: float, res_e: float, seconds: float) -> None:
        keep = np.exp(-seconds / ERLE_WINDOW_S)
        self._recent_mic = keep * self._recent_mic + mic_e
        self._recent_residual = keep * self._recent_residual + res_e
        self._echo_seconds += seconds
        erle = self.recent_erle_db()
        if erle is None or self._echo_seconds < ERLE_WINDOW_S:
            return
        if int(self._echo_seconds / 2) != int((self._echo_seconds - seconds) / 2):
            log.debug("recent ERLE %.1f dB after %.0f s of echo (%d re-alignments)",
                      erle, self._echo_seconds, self.shifts)
        if erle >= READY_ERLE_DB - 5:
            self._low_seconds = 0.0
        else:
            self._low_seconds += seconds
        if not self._ready and erle >= READY_ERLE_DB:
            log.info("echo canceller removes %.0f dB of the coach's voice: barge-in on", erle)
            self._ready = True
        elif self._low_seconds >= LOW_FOR_S and self._ready:
            log.info("echo canceller removes only %.0f dB: barge-in off until it removes %.0f again",
                     erle, READY_ERLE_DB)
            self._ready = False
            self._echo_seconds = self._low_seconds = 0.0
        elif self._low_seconds >= LOW_FOR_S and self._echo_seconds > RELEARN_AFTER_S:
            log.info("echo canceller removes only %.0f dB: measuring the echo path again", erle)
            self._relearn()

    def _relearn(self) -> None:
        """Forget the path (delay, drift, filter): it changed beyond what tracking follows."""
        self._ready = False
        self.delay = None
        self._cursor = self._measure_cursor = None
        self._skew = 0.0
        self._ratio = 1.0
        self._since_shift = 0
        self._pairs.clear()
        self._track.clear()
        self._fed.clear()
        self._recent_mic = self._recent_residual = 0.0
        self._echo_seconds = self._low_seconds = 0.0
        if self._canceller is not None:
            self._canceller.reset()

    def process(self, chunk: Chunk) -> np.ndarray:
        """The chunk's samples with the coach's echo removed (unchanged until measured)."""
        mic = chunk.samples
        if self.delay is None:
            self._measure(chunk, mic)
            return mic
        index = self.played.index_at(chunk.start - self.delay + MARGIN_S)
        if index is None:
            return mic
        if self._cursor is None:
            self._cursor = float(index)
        apart = self._cursor - (index + self._skew)
        if abs(apart) <= JUMP_SAMPLES:
            self._skew += 0.05 * apart
            self._apart = 0
        else:
            # A chunk's timestamp can be off by as much when the machine is loaded (a
            # callback that ran late), by a different amount each time; a lost block
            # moves every chunk after it by the same amount.
            steady = abs(apart - self._last_apart) < JUMP_SAMPLES / 5
            self._apart = self._apart + 1 if steady else 1
            self._last_apart = apart
            if self._apart >= 3:
                self._cursor = index + self._skew  # a block lost, or the speaker started anew
                self._apart = 0
                self._fed.clear()  # measured across the jump, the alignment would be a blur
                self.jumps += 1
                log.debug("reference re-synchronised with the timestamps (%+.0f samples)", -apart)
        ref = self._read_reference(len(mic))
        echo = bool(np.max(np.abs(ref)) > _LEVEL) if len(ref) else False
        self._quiet = 0.0 if echo else self._quiet + chunk.duration
        mic_e = float(np.sum(mic.astype(np.float64) ** 2))
        if self._quiet > QUIET_S:
            # Long after the coach's last word: the microphone as it is, exactly what the
            # recognizer hears without barge-in (the filter keeps what it learnt).
            self._energies.append(_Energy(chunk.start, chunk.end, mic_e, mic_e, False))
            return mic
        if self._canceller is None:
            self._canceller = self._make_canceller()
        residual = self._canceller.process(mic, ref)
        res_e = float(np.sum(residual.astype(np.float64) ** 2))
        gated = self._gate(residual, self._canceller.echo_estimate)
        self._energies.append(_Energy(chunk.start, chunk.end, mic_e,
                                      float(np.sum(gated.astype(np.float64) ** 2)), echo))
        if echo:  # the canceller's own figures, before the gate
            self.echo_energy += mic_e
            self.residual_energy += res_e
            self._follow(mic_e, res_e, chunk.duration)
            self._track_delay(mic, self._canceller.echo_estimate)
            self._recheck(mic, ref, chunk.duration)
        return gated

    def _recheck(self, mic: np.ndarray, ref: np.ndarray, seconds: float) -> None:
        self._fed.append((ref.copy(), mic.copy()))
        while sum(len(m) for _, m in self._fed) > RECHECK_WINDOW_S * RATE:
            self._fed.popleft()
        self._since_recheck += seconds
        if self._since_recheck < RECHECK_S:
            return
        self._since_recheck = 0.0
        refs = np.concatenate([r for r, _ in self._fed])
        mics = np.concatenate([np.zeros(_RECHECK_PAD, np.int16)] + [m for _, m in self._fed])
        lag, confidence = measure_delay(refs, mics[:len(refs)], max_delay_s=2 * _RECHECK_PAD / RATE)
        shift = int(round(lag * RATE)) - _RECHECK_PAD - int(MARGIN_S * RATE)
        if confidence >= MIN_CONFIDENCE and abs(shift) >= 2:
            assert self._cursor is not None
            self._cursor -= shift  # the echo comes `shift` samples later than the filter expects
            self._skew -= shift
            self._fed.clear()
            self._track.clear()
            self.shifts += 1
            log.debug("echo measured %d samples off; reference re-aligned", shift)

    def _gate(self, residual: np.ndarray, estimate: np.ndarray) -> np.ndarray:
        """The residual with the frames that hold only what is left of the echo silenced."""
        if len(estimate) != len(residual):
            return residual
        f = int(RATE * 0.01)
        n = len(residual) // f * f
        res_e = np.mean(residual[:n].astype(np.float64).reshape(-1, f) ** 2, axis=1)
        est_e = np.mean(estimate[:n].astype(np.float64).reshape(-1, f) ** 2, axis=1)
        passing = (est_e < GATE_FLOOR) | (res_e >= 10 ** (GATE_DB / 10) * est_e)
        keep = passing.copy()
        # Open a little before a passing frame (a soft onset, the "s" of "stop", is weaker
        # than the vowel that lets the gate open) and hold it open after.
        for i in np.flatnonzero(passing):
            keep[max(0, i - GATE_OPEN_EARLY_FRAMES):i + GATE_HOLD_FRAMES + 1] = True
        keep[:self._hold] = True
        self._hold = max(0, GATE_HOLD_FRAMES - (len(passing) - 1 - int(np.flatnonzero(passing)[-1]))) \
            if passing.any() else max(0, self._hold - len(passing))
        out = residual.copy()
        out[:n].reshape(-1, f)[~keep] = 0
        return out

    def _read_reference(self, n: int) -> np.ndarray:
        """The next `n` reference samples, read at the drift-corrected rate."""
        assert self._cursor is not None
        first = int(np.floor(self._cursor))
        raw = self.played.read(first, int(np.ceil(n * self._ratio)) + 2).astype(np.float64)
        where = self._cursor - first + np.arange(n) * self._ratio
        self._cursor += n * self._ratio
        self._since_shift += n
        if self._ratio == 1.0 and self._cursor == int(self._cursor):
            return raw[:n].astype(np.int16)
        return np.round(np.interp(where, np.arange(len(raw)), raw)).astype(np.int16)

    def _track_delay(self, mic: np.ndarray, estimate: np.ndarray) -> None:
        if len(estimate) != len(mic):
            return
        self._track.append((mic.astype(np.float64), estimate.astype(np.float64)))
        if sum(len(m) for m, _ in self._track) < TRACK_S * RATE:
            return
        mics = np.concatenate([m for m, _ in self._track])
        estimates = np.concatenate([e for _, e in self._track])
        self._track.clear()
        if np.sum(estimates ** 2) < 0.1 * np.sum(mics ** 2):
            return  # the filter models little of the echo yet: nothing to compare with
        size = 1 << (2 * len(mics) - 1).bit_length()
        corr = np.fft.irfft(np.fft.rfft(mics, size) * np.conj(np.fft.rfft(estimates, size)), size)
        lags = np.concatenate([corr[-TRACK_MAX_SHIFT:], corr[:TRACK_MAX_SHIFT + 1]])
        shift = int(np.argmax(lags)) - TRACK_MAX_SHIFT
        if abs(shift) >= 2 and lags[shift + TRACK_MAX_SHIFT] > 1.2 * lags[TRACK_MAX_SHIFT]:
            # The echo now comes `shift` samples later than the filter expects: feed the
            # reference that much later too.
            assert self._cursor is not None
            self._cursor -= shift
            self._skew -= shift
            self._fed.clear()
            if self._since_shift > 0 and abs(shift) <= 40:  # a drift, not an underrun's jump
                drift = self._ratio - 0.7 * shift / self._since_shift
                self._ratio = float(np.clip(drift, 1 - MAX_DRIFT, 1 + MAX_DRIFT))
            self._since_shift = 0
            self.shifts += 1
            log.debug("echo moved by %d samples; reference re-aligned (rate %.6f)", shift, self._ratio)

    def echo_share_db(self, start: float, end: float) -> float | None:
        """Residual over microphone energy (dB) over chunks in [start, end] (monotonic) while
        the coach's echo was present; None when it was not there at all."""
        parts = [e for e in self._energies if e.end > start and e.start < end]
        if not any(e.echo for e in parts):
            return None
        mic = sum(e.mic for e in parts)
        residual = sum(e.residual for e in parts)
        return 10 * np.log10((residual + 1.0) / (mic + 1.0))

    def erle_db(self) -> float | None:
        """Echo-return-loss enhancement so far: how much of the coach's echo was removed."""
        if self.echo_energy <= 0:
            return None
        return float(10 * np.log10(self.echo_energy / max(self.residual_energy, 1.0)))

    def _measure(self, chunk: Chunk, mic: np.ndarray) -> None:
        index = self.played.index_at(chunk.start)
        if index is None:
            return
        if self._measure_cursor is None or abs(index - self._measure_cursor) > RESYNC_SAMPLES:
            self._measure_cursor = index
            self._pairs.clear()
        # Read ahead of the capture by the longest delay looked for: the echo of what
        # sounds later in the window arrives inside it.
        ref = self.played.read(self._measure_cursor, len(mic))
        self._measure_cursor += len(mic)
        self._pairs.append((ref, mic.copy()))
        while sum(len(r) for r, _ in self._pairs) > MEASURE_WINDOW_S * RATE:
            self._pairs.popleft()
        self._since_try += chunk.duration
        if self._since_try < 1.0:
            return
        refs = np.concatenate([r for r, _ in self._pairs])
        if np.count_nonzero(np.abs(refs) > _LEVEL) < MEASURE_SPEECH_S * RATE * 0.5:
            return
        self._since_try = 0.0
        mics = np.concatenate([m for _, m in self._pairs])
        delay, confidence = measure_delay(refs, mics)
        log.debug("echo delay %.3f s, confidence %.1f", delay, confidence)
        if confidence >= MIN_CONFIDENCE:
            self.delay, self.confidence = delay, confidence
            self._pairs.clear()
            log.info("echo path measured: %.0f ms (confidence %.1f)",
                     delay * 1000, confidence)

    def close(self) -> None:
        if self._canceller is not None:
            self._canceller.close()


def attach(player: object) -> tuple[BargeIn | None, str | None]:
    """A `BargeIn` fed by `player`'s output (a `playback.Player`), or None and why not."""
    from voicecoach.voice.echo_canceller import available

    why = available()
    if why is not None:
        return None, f"Barge-in is off: {why}"
    if hasattr(player, "set_latency"):
        player.set_latency(PLAYER_LATENCY_S)
    played = PlayedAudio()
    reported = [0]

    def on_played(block: np.ndarray, rate: int, start: float) -> None:
        # The player counts the underruns the device reports, before handing the block on.
        count = player.underruns  # type: ignore[attr-defined]
        played.push(block, rate, start, underrun=count != reported[0])
        reported[0] = count

    player.on_played = on_played  # type: ignore[attr-defined]
    return BargeIn(played), None
