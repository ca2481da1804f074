"""Helpers for studio tests: generated speech-like takes, WAV writing, logging in."""
from __future__ import annotations

import re
from pathlib import Path

import numpy as np
import soundfile as sf

RATE = 48_000


def speech(seconds: float, rate: int = RATE, seed: int = 0, level: float = 0.1) -> np.ndarray:
    """Speech-like noise: 4 Hz syllable bursts of band-limited noise (mono float32, (frames, 1))."""
    rng = np.random.default_rng(seed)
    n = int(round(seconds * rate))
    t = np.arange(n) / rate
    noise = rng.standard_normal(n)
    noise = np.convolve(noise, np.ones(8) / 8, mode="same")
    envelope = 0.55 + 0.45 * np.sin(2 * np.pi * 4 * t) ** 2
    return (level * noise * envelope).astype(np.float32)[:, None]


def room(seconds: float, rate: int = RATE, seed: int = 1) -> np.ndarray:
    """Room tone around −70 dBFS."""
    rng = np.random.default_rng(seed)
    return (rng.standard_normal(int(round(seconds * rate))) * 10 ** (-70 / 20)).astype(np.float32)[:, None]


def chapters_take(lengths_s, gap_s: float = 2.5, rate: int = RATE, seed: int = 0) -> tuple[np.ndarray, list[float]]:
    """Room tone, then chapters of speech separated by gaps; returns samples and each gap's (start, end)."""
    parts = [room(0.6, rate, seed)]
    gaps = []
    pos = parts[0].shape[0]
    for i, length in enumerate(lengths_s):
        if i:
            gaps.append((pos / rate, (pos + int(round(gap_s * rate))) / rate))
            parts.append(room(gap_s, rate, seed + i))
            pos += parts[-1].shape[0]
        parts.append(speech(length, rate, seed + 10 + i))
        pos += parts[-1].shape[0]
    parts.append(room(1.5, rate, seed + 99))
    return np.concatenate(parts), gaps


def write_wav(path: Path, samples: np.ndarray, rate: int = RATE, subtype: str = "PCM_24") -> Path:
    sf.write(str(path), samples, rate, subtype=subtype, format="WAV")
    return path


def csrf_from(html: str) -> str:
    return re.search(r'name="csrf_token"[^>]*value="([^"]+)"', html).group(1)


def login(client, username: str):
    page = client.get("/login")
    token = csrf_from(page.get_data(as_text=True))
    response = client.post("/login", data={"username": username, "password": "mat-khau-" + username,
                                           "csrf_token": token})
    assert response.status_code in (302, 303), response.status_code
    return client
