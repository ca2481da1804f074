"""Waveform envelopes for the chapter editor and the clip cutter: the peak amplitude of an audio
file in equal time buckets, read in blocks (bounded memory) and cached as JSON beside the
derived media, so a page shows a long take without reading it again.
"""
from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import soundfile as sf

from recordings.probe import iter_blocks
from recordings.store import MediaStore

ENVELOPE_POINTS = 600
BLOCK_FRAMES = 65536


def file_envelope(store: MediaStore, path: str | Path, cache_key: str, points: int = ENVELOPE_POINTS) -> list[float]:
    """Peak amplitude (0..1, all channels) of the audio file at `path` in `points` equal time
    buckets; cached in the store at `cache_key`."""
    if store.exists(cache_key):
        return json.loads(store.read_bytes(cache_key))
    frames = sf.info(str(path)).frames
    per = max(1, -(-frames // points))
    peaks = np.zeros(points)
    pos = 0
    for block in iter_blocks(path, BLOCK_FRAMES):
        mono = np.abs(block).max(axis=1)
        idx = np.minimum((pos + np.arange(len(mono))) // per, points - 1)
        np.maximum.at(peaks, idx, mono)
        pos += len(mono)
    result = [round(float(p), 4) for p in peaks]
    store.write_bytes(cache_key, json.dumps(result).encode())
    return result


def take_envelope(store: MediaStore, original_sha256: str, points: int = ENVELOPE_POINTS) -> list[float]:
    """The envelope of a take's original (named by its SHA-256)."""
    return file_envelope(store, store.find_original(original_sha256),
                         f"derived/waveforms/{original_sha256}-{points}.json", points)


def master_envelope(store: MediaStore, master_key: str, cache_name: str, points: int) -> list[float]:
    """The envelope of a chapter's master (media key `master_key`), cached under `cache_name`."""
    return file_envelope(store, store.path(master_key), f"derived/waveforms/m-{cache_name}-{points}.json", points)


def envelope_points(env: list[float]) -> str:
    """SVG polygon points for a mirrored envelope in a 1000×100 box."""
    n = len(env)
    top = [f"{1000 * i / max(1, n - 1):.1f},{50 - 48 * v:.1f}" for i, v in enumerate(env)]
    bottom = [f"{1000 * i / max(1, n - 1):.1f},{50 + 48 * v:.1f}" for i, v in reversed(list(enumerate(env)))]
    return " ".join(top + bottom)
