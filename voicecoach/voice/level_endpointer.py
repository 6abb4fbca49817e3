"""An endpointer that hears speech over a steady noise: WebRTC's voice detector plus a noise floor.

PocketSphinx's endpointer (WebRTC's voice-activity detector over a window) calls an
exercise bike, a running tap or a fan "speech" for as long as it runs, so with
one on, an utterance never ends and no command is ever decided.  This one tracks
the room's noise floor (it falls at once to a quieter level and rises slowly, and
only between utterances) and counts a 30 ms frame as speech only when the
detector says so AND the frame stands out of the floor, or when it stands far out.
A steady noise becomes the floor; a voice over it still stands out.

It offers the interface of `pocketsphinx.Endpointer` that `EndpointedRecognizer`
uses: `frame_bytes`, `process`, `end_stream`, `in_speech`, `speech_start`.
"""

from __future__ import annotations

from collections import deque

import numpy as np

FRAME_S = 0.03
# A frame stands out of the floor by this much (dB) to count as speech with the
# detector's agreement, or by FAR_DB without it (a shout the detector misses).
START_DB = 6.0
FAR_DB = 20.0
# While in speech, a frame above the floor by this much still counts (the quiet
# end of a word, a reverberant tail, keeps the utterance open).
HOLD_DB = 3.0
# Frames to look back over: a start needs START_OF of the last WINDOW frames to be
# speech; an end needs END_OF of the last WINDOW frames to be quiet.
WINDOW = 4
START_OF = 3
END_OF = 4
# An utterance also ends this long after its last strong frame (one that would have
# started an utterance and is within PEAK_DROP_DB of the utterance's loudest): a
# room's reverberant tail, or a noise just above the floor, does not hold it open.
TAIL_S = 0.18
PEAK_DROP_DB = 20.0
# Longer than any command: the level that opened the utterance is a new noise.
STUCK_S = 5.0
# How the floor follows the level between utterances: down at once (smoothed a
# little), up by at most this many dB a second.
RISE_DB_PER_S = 3.0
FALL_SMOOTHING = 0.3


def frame_db(frame: np.ndarray) -> float:
    """A frame's level in dB relative to int16 full scale."""
    power = float(np.mean(frame.astype(np.float64) ** 2)) / (32768.0 ** 2)
    return 10.0 * np.log10(power + 1e-12)


class LevelEndpointer:
    """Cuts int16 mono audio into utterances, robust to steady background noise."""

    def __init__(self, sample_rate: int = 16000, vad_mode: int = 2) -> None:
        import pocketsphinx

        self._vad = pocketsphinx.Vad(mode=vad_mode, sample_rate=sample_rate, frame_length=FRAME_S)
        self.frame_bytes: int = self._vad.frame_bytes
        self.frame_length: float = self._vad.frame_length
        self.in_speech = False
        self.speech_start = 0.0
        self.speech_end = 0.0
        self._floor: float | None = None
        self._frames = 0
        self._last_strong = 0
        self._peak = -120.0
        self._recent: deque[tuple[bool, bytes]] = deque(maxlen=WINDOW)
        self._rise = RISE_DB_PER_S * self.frame_length

    def process(self, frame: bytes) -> bytes | None:
        """Take one frame; return speech audio (several frames at a start) or None."""
        samples = np.frombuffer(frame, dtype="<i2")
        level = frame_db(samples)
        if self._floor is None:
            self._floor = level
        above = level - self._floor
        voiced = self._vad.is_speech(frame)
        strong = (voiced and above >= START_DB) or above >= FAR_DB
        if self.in_speech:
            self._peak = max(self._peak, level)
            if strong and level >= self._peak - PEAK_DROP_DB:
                self._last_strong = self._frames
            speech = above >= HOLD_DB and (self._frames - self._last_strong) * self.frame_length < TAIL_S
            if self._frames * self.frame_length - self.speech_start > STUCK_S:
                # A noise that started with the "speech" and never stopped: it is the new floor.
                self._floor = level
                speech = False
        else:
            speech = strong
            self._follow_floor(level)
        self._frames += 1
        self._recent.append((speech, frame))
        if not self.in_speech:
            if sum(s for s, _ in self._recent) >= START_OF:
                self.in_speech = True
                self._last_strong = self._frames
                self._peak = level
                self.speech_start = (self._frames - len(self._recent)) * self.frame_length
                out = b"".join(f for _, f in self._recent)
                self._recent.clear()
                return out
            return None
        if len(self._recent) >= END_OF and not any(s for s, _ in list(self._recent)[-END_OF:]):
            self.in_speech = False
            self.speech_end = self._frames * self.frame_length
            self._recent.clear()
            return None
        return frame

    def end_stream(self, frame: bytes) -> bytes | None:
        """The last, possibly short, frame of the stream: speech if an utterance is open."""
        if not self.in_speech:
            return None
        self.in_speech = False
        return frame

    def _follow_floor(self, level: float) -> None:
        if level < self._floor:
            self._floor += FALL_SMOOTHING * (level - self._floor) if level > self._floor - 20 else level - self._floor
        else:
            self._floor += min(level - self._floor, self._rise)
