"""Adapter for the optional neural speech enhancer: RNNoise, compiled with its weights into the
`pyrnnoise` wheel (PyPI, Apache-2.0), so nothing downloads at run time.

This is the one module that may import it (lazily: `mastering` itself needs only numpy/scipy/
soundfile). RNNoise runs at 48 kHz on 480-frame (10 ms) frames, one state per channel; other rates
are resampled in fixed chunks at absolute positions with enough context on both sides that the
result equals resampling the whole signal, so block sizes never change the output.
"""
from __future__ import annotations

from math import gcd

import numpy as np
from scipy.signal import resample_poly

RNN_RATE = 48000
RNN_FRAME = 480
SCALE = 32768.0          # RNNoise works on 16-bit sample values held in floats


def _lib():
    try:
        from pyrnnoise import rnnoise  # optional dependency (the `neural` extra)
    except (ImportError, OSError):
        return None
    return rnnoise


def available() -> bool:
    """True when the optional `pyrnnoise` package is installed and its library loads."""
    return _lib() is not None


class ChunkResampler:
    """Streaming `resample_poly` by rational factor up/down: chunks of `chunk` input frames that
    start at multiples of the chunk (so output positions are whole), each with `context` frames
    either side (far more than the filter's half length). Output index i is input time i·down/up:
    no offset, only a lag of one chunk plus context before a chunk comes out."""

    def __init__(self, rate_in: int, rate_out: int, channels: int):
        g = gcd(rate_in, rate_out)
        self.up, self.down = rate_out // g, rate_in // g
        self.chunk = self.down * max(1, 8192 // self.down)
        self.context = self.down * max(1, -(-64 // self.down))
        self.buf = np.zeros((self.context, channels))   # context of zeros before the start
        self.tail = self.chunk + self.context
        self.delay = 0

    def process(self, block: np.ndarray) -> np.ndarray:
        if self.up == self.down:
            return block
        self.buf = np.concatenate([self.buf, block])
        outs = []
        c, k = self.chunk, self.context
        while self.buf.shape[0] >= c + 2 * k:
            seg = self.buf[:c + 2 * k]
            y = resample_poly(seg, self.up, self.down, axis=0)
            a = k * self.up // self.down
            outs.append(y[a:a + c * self.up // self.down])
            self.buf = self.buf[c:]
        return np.concatenate(outs) if outs else np.zeros((0, block.shape[1]))


class NeuralDenoiser:
    """RNNoise at 48 kHz between two chunk resamplers; latency `delay` frames at the input rate."""

    def __init__(self, rate: int, channels: int, room_tone: np.ndarray | None = None):
        lib = _lib()
        if lib is None:
            raise RuntimeError("pyrnnoise is not installed")
        self.lib = lib.lib
        self.ffi = __import__("ctypes")
        self.states = [lib.create() for _ in range(channels)]
        self.down = ChunkResampler(rate, RNN_RATE, channels)
        self.up = ChunkResampler(RNN_RATE, rate, channels)
        self.pending = np.zeros((0, channels), np.float32)
        # RNNoise's output lags its input by two frames (measured: cross-correlation peak at 960
        # frames at 48 kHz); 960 frames at 48 kHz are exactly 882 at 44.1 kHz, 640 at 32 kHz
        self.delay = 2 * RNN_FRAME * rate // RNN_RATE
        self.tail = self.down.tail + self.up.tail * rate // RNN_RATE + 2 * RNN_FRAME
        self.out = np.zeros(RNN_FRAME, np.float32)
        if room_tone is not None and len(room_tone) >= rate // 10:
            # RNNoise learns the noise as it goes and lets the first frames through: let it hear
            # the take's room tone first, so the head of the take is treated like the rest
            g = gcd(rate, RNN_RATE)
            self._rnn(resample_poly(np.asarray(room_tone, np.float64), RNN_RATE // g, rate // g, axis=0))
            self.pending = np.zeros((0, channels), np.float32)

    def __del__(self):
        for st in getattr(self, "states", []):
            self.lib.rnnoise_destroy(st)

    def _rnn(self, x: np.ndarray) -> np.ndarray:
        x = np.concatenate([self.pending, (x * SCALE).astype(np.float32)])
        m = x.shape[0] // RNN_FRAME * RNN_FRAME
        y = np.empty((m, x.shape[1]), np.float32)
        ptr = self.ffi.POINTER(self.ffi.c_float)
        for ch, st in enumerate(self.states):
            col = np.ascontiguousarray(x[:m, ch])
            for i in range(0, m, RNN_FRAME):
                frame = col[i:i + RNN_FRAME]
                self.lib.rnnoise_process_frame(st, self.out.ctypes.data_as(ptr), frame.ctypes.data_as(ptr))
                y[i:i + RNN_FRAME, ch] = self.out
        self.pending = x[m:]
        return y.astype(np.float64) / SCALE

    def process(self, block: np.ndarray) -> np.ndarray:
        return self.up.process(self._rnn(self.down.process(block)))
