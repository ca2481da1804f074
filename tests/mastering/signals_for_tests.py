"""Small generated signals for the mastering tests (imported by the test modules)."""
from __future__ import annotations

import numpy as np


def tone(db: float, seconds: float, rate: int = 48000, channels: int = 2, freq: float = 1000.0) -> np.ndarray:
    n = np.arange(int(round(seconds * rate)))
    x = 10 ** (db / 20) * np.sin(2 * np.pi * freq * n / rate)
    return np.repeat(x[:, None], channels, axis=1)


def narration(seconds: float, rate: int = 44100, seed: int = 0, noise_db: float = -55.0,
              hum_db: float = -50.0, lead_s: float = 0.3) -> np.ndarray:
    """Speech-like bursts (harmonic, syllable-modulated) at varying levels, pauses, noise, hum."""
    rng = np.random.default_rng(seed)
    n = int(seconds * rate)
    x = np.zeros(n)
    t = int(lead_s * rate)
    while t < n - int(1.5 * rate):
        d = int(rng.uniform(0.8, 3.0) * rate)
        d = min(d, n - t - int(1.2 * rate))
        lvl = 10 ** (rng.uniform(-32, -18) / 20)
        k = np.arange(d)
        f0 = rng.uniform(100, 220)
        s = sum(np.sin(2 * np.pi * f0 * h * k / rate + rng.uniform(0, 6)) / h for h in range(1, 12))
        am = 0.5 * (1 - np.cos(2 * np.pi * k / d)) * (0.6 + 0.4 * np.sin(2 * np.pi * 4 * k / rate))
        x[t:t + d] += lvl * s * am * 0.5
        t += d + int(rng.uniform(0.2, 1.2) * rate)
    x += 10 ** (noise_db / 20) * rng.standard_normal(n)
    x += 10 ** (hum_db / 20) * np.sin(2 * np.pi * 50 * np.arange(n) / rate)
    return x[:, None].astype(np.float32)




def daw_export(seconds: float, rate: int = 44100, seed: int = 0, noise_db: float = -60.0,
               head_s: float = 2.0, tail_s: float = 3.0) -> np.ndarray:
    """Narration with room noise between exact digital zeros at head and tail (a DAW export)."""
    z = np.zeros((int(head_s * rate), 1), np.float32)
    t = np.zeros((int(tail_s * rate), 1), np.float32)
    return np.concatenate([z, narration(seconds, rate, seed=seed, noise_db=noise_db), t])


def gated(seconds: float, rate: int = 44100, seed: int = 0) -> np.ndarray:
    """Narration whose pauses are exact zeros (no room at all: synthetic speech, a gated export)."""
    x = narration(seconds, rate, seed=seed, noise_db=-300.0, hum_db=-300.0)
    x[np.abs(x) < 1e-4] = 0.0
    return x
