"""studio.waveform: envelopes from generated audio with known peaks, read in blocks, cached."""
from __future__ import annotations

import numpy as np
import soundfile as sf

from recordings.store import MediaStore
from studio import waveform


def test_envelope_follows_known_peaks_across_block_edges_and_is_cached(tmp_path, monkeypatch):
    rate, points = 8000, 10
    audio = np.zeros((rate * 10, 2), np.float32)  # 10 s: one bucket per second
    audio[rate * 3 + 5, 1] = -0.75                # a peak in bucket 3, right channel, negative
    audio[rate * 7:rate * 8, 0] = 0.25            # bucket 7 at 0.25
    path = tmp_path / "take.wav"
    sf.write(path, audio, rate, subtype="FLOAT")
    store = MediaStore(tmp_path / "media")
    monkeypatch.setattr(waveform, "BLOCK_FRAMES", 777)  # blocks that do not line up with buckets
    env = waveform.file_envelope(store, path, "derived/waveforms/t.json", points)
    assert env == [0, 0, 0, 0.75, 0, 0, 0, 0.25, 0, 0]
    path.unlink()  # the second call reads the cache, not the file
    assert waveform.file_envelope(store, path, "derived/waveforms/t.json", points) == env


def test_envelope_points_draw_a_mirrored_polygon():
    points = waveform.envelope_points([0.0, 1.0]).split()
    assert points == ["0.0,50.0", "1000.0,2.0", "1000.0,98.0", "0.0,50.0"]
