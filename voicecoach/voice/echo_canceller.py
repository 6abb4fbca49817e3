"""Acoustic echo cancellation: SpeexDSP's adaptive filter (MDF) and residual-echo
suppressor, through ctypes over the system's libspeexdsp.so.1.

Given what the microphone captured and, sample for sample, what the coach played at
the same moment (the reference, aligned by `echo_path`), it returns the capture
with the coach's voice removed, so a user talking over the coach can be heard.

SpeexDSP was chosen over the WebRTC audio-processing bindings on PyPI because it is
a Debian package on every architecture the coach runs on (PulseAudio already depends
on it), so nothing new is compiled or locked; measured in the virtual room
(benchmarks/barge_in.py) it removes enough of the coach's voice for the strict
barge-in vocabulary, at a few per cent of one core.
"""

from __future__ import annotations

import contextlib
import ctypes
import ctypes.util

import numpy as np

from voicecoach.voice.syslibs import apt_install

SONAME = "libspeexdsp.so.1"

# speex_echo.h / speex_preprocess.h request numbers.
_ECHO_SET_SAMPLING_RATE = 24
_PREPROCESS_SET_DENOISE = 0
_PREPROCESS_SET_AGC = 2
_PREPROCESS_SET_VAD = 4
_PREPROCESS_SET_DEREVERB = 8
_PREPROCESS_SET_NOISE_SUPPRESS = 18
_PREPROCESS_SET_ECHO_SUPPRESS = 20
_PREPROCESS_SET_ECHO_SUPPRESS_ACTIVE = 22
_PREPROCESS_SET_ECHO_STATE = 24

FRAME_S = 0.01
"""The canceller works on 10 ms frames."""
FILTER_S = 0.15
"""How much of the room's reverberation the adaptive filter models (after the path's delay)."""
NOISE_SUPPRESS_DB = -6
"""Steady noise is attenuated by at most this much (the suppressor needs denoising on)."""
ECHO_SUPPRESS_DB = -40
"""Residual echo is attenuated by up to this much (while only the coach talks)."""
ECHO_SUPPRESS_ACTIVE_DB = -15
"""...and by up to this much while someone talks over it: the user's words must survive."""


class EchoCancellerUnavailable(RuntimeError):
    """libspeexdsp cannot be loaded."""


_lib: ctypes.CDLL | None = None


def _load() -> ctypes.CDLL:
    global _lib
    if _lib is not None:
        return _lib
    try:
        lib = ctypes.CDLL(SONAME)
    except OSError as exc:
        found = ctypes.util.find_library("speexdsp")
        if found is None:
            raise EchoCancellerUnavailable(
                f"the echo canceller needs {SONAME} ({apt_install(SONAME)}): {exc}") from exc
        lib = ctypes.CDLL(found)
    lib.speex_echo_state_init.restype = ctypes.c_void_p
    lib.speex_echo_state_init.argtypes = [ctypes.c_int, ctypes.c_int]
    lib.speex_echo_state_destroy.argtypes = [ctypes.c_void_p]
    lib.speex_echo_state_reset.argtypes = [ctypes.c_void_p]
    lib.speex_echo_ctl.argtypes = [ctypes.c_void_p, ctypes.c_int, ctypes.c_void_p]
    lib.speex_echo_cancellation.argtypes = [ctypes.c_void_p, ctypes.c_void_p, ctypes.c_void_p,
                                            ctypes.c_void_p]
    lib.speex_preprocess_state_init.restype = ctypes.c_void_p
    lib.speex_preprocess_state_init.argtypes = [ctypes.c_int, ctypes.c_int]
    lib.speex_preprocess_state_destroy.argtypes = [ctypes.c_void_p]
    lib.speex_preprocess_ctl.argtypes = [ctypes.c_void_p, ctypes.c_int, ctypes.c_void_p]
    lib.speex_preprocess_run.argtypes = [ctypes.c_void_p, ctypes.c_void_p]
    _lib = lib
    return lib


def available() -> str | None:
    """Why there is no echo canceller here, or None if there is one."""
    try:
        _load()
    except EchoCancellerUnavailable as exc:
        return str(exc)
    return None


class EchoCanceller:
    """Removes the reference from the capture; int16 mono at `sample_rate`, any length.

    Audio is processed in 10 ms frames; a remainder waits for the next call, so the
    output of a call is as long as its input only once the first frame has filled
    (the listener's 100 ms chunks are whole frames, so it never waits there).
    """

    def __init__(self, sample_rate: int = 16000, filter_s: float = FILTER_S,
                 suppress: bool = True) -> None:
        lib = _load()
        self._lib = lib
        self.sample_rate = sample_rate
        self.frame = int(round(sample_rate * FRAME_S))
        self._echo = lib.speex_echo_state_init(self.frame, int(round(sample_rate * filter_s)))
        rate = ctypes.c_int(sample_rate)
        lib.speex_echo_ctl(self._echo, _ECHO_SET_SAMPLING_RATE, ctypes.byref(rate))
        self._pre = None
        if suppress:
            self._pre = lib.speex_preprocess_state_init(self.frame, sample_rate)
            # The suppressor only applies its gains with denoising on; the noise
            # suppression itself is kept light (the recognizer has its own noise floor).
            for request, value in ((_PREPROCESS_SET_DENOISE, 1), (_PREPROCESS_SET_NOISE_SUPPRESS, NOISE_SUPPRESS_DB),
                                   (_PREPROCESS_SET_AGC, 0),
                                   (_PREPROCESS_SET_VAD, 0), (_PREPROCESS_SET_DEREVERB, 0),
                                   (_PREPROCESS_SET_ECHO_SUPPRESS, ECHO_SUPPRESS_DB),
                                   (_PREPROCESS_SET_ECHO_SUPPRESS_ACTIVE, ECHO_SUPPRESS_ACTIVE_DB)):
                v = ctypes.c_int(value)
                lib.speex_preprocess_ctl(self._pre, request, ctypes.byref(v))
            lib.speex_preprocess_ctl(self._pre, _PREPROCESS_SET_ECHO_STATE, ctypes.c_void_p(self._echo))
        self._mic = np.zeros(0, np.int16)
        self._ref = np.zeros(0, np.int16)
        self.echo_estimate = np.zeros(0, np.float32)
        """The adaptive filter's estimate of the echo in the last call's output (before the
        residual-echo suppressor): aligned with the capture when the filter models the path."""

    def process(self, mic: np.ndarray, ref: np.ndarray) -> np.ndarray:
        """The capture `mic` with the echo of `ref` (the same length, aligned) removed."""
        if len(mic) != len(ref):
            raise ValueError("the capture and the reference must be the same length")
        mic_all = np.concatenate([self._mic, np.asarray(mic, np.int16)])
        ref_all = np.concatenate([self._ref, np.asarray(ref, np.int16)])
        n = len(mic_all) // self.frame * self.frame
        out = np.empty(n, np.int16)
        estimate = np.empty(n, np.float32)
        lib, f = self._lib, self.frame
        for i in range(0, n, f):
            rec = np.ascontiguousarray(mic_all[i:i + f])
            play = np.ascontiguousarray(ref_all[i:i + f])
            res = out[i:i + f]
            lib.speex_echo_cancellation(self._echo, rec.ctypes.data, play.ctypes.data, res.ctypes.data)
            estimate[i:i + f] = rec.astype(np.float32) - res
            if self._pre is not None:
                lib.speex_preprocess_run(self._pre, res.ctypes.data)
        self._mic, self._ref = mic_all[n:], ref_all[n:]
        self.echo_estimate = estimate
        return out

    def reset(self) -> None:
        """Forget the learnt echo path (the room or the device changed)."""
        self._lib.speex_echo_state_reset(self._echo)

    def close(self) -> None:
        if self._pre is not None:
            self._lib.speex_preprocess_state_destroy(self._pre)
            self._pre = None
        if self._echo is not None:
            self._lib.speex_echo_state_destroy(self._echo)
            self._echo = None

    def __del__(self) -> None:
        with contextlib.suppress(Exception):  # interpreter shutdown
            self.close()
