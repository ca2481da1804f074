"""Synthesise the demo recording session in ``examples/demo-session/``.

A short Vietnamese narration (four chapters retelling folk tales, our own
wording) is spoken sentence by sentence with ``espeak-ng -v vi`` and laid out
like a real narrator's raw takes in a room:

* every sentence's level varies by ±3 dB around an active speech level of
  about −22 dBFS RMS, peaks stay below −3 dBFS;
* 0.3–0.8 s between sentences, 0.6–1.0 s between paragraphs (nothing inside a
  chapter is silent for more than 1.2 s) and 3.0–3.5 s between chapters, so
  pause detection at −50 dBFS / 1.75 s finds exactly the chapter boundaries;
* a light room reverb, pink-ish room noise (−62 dBFS RMS) and 50 Hz mains
  hum (−58 dBFS RMS) everywhere, with ~0.8 s of room tone at the head and
  ~2 s at the tail of each take.

Take 1 holds chapters 1–2, take 2 holds chapters 3–4. Output (mono,
22050 Hz, 16-bit FLAC) is reproducible: the random generator is seeded and
espeak-ng is deterministic for a given version.

Run:  /work/main/.venv/bin/python examples/make_demo_session.py [--out DIR]
"""

from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
import tempfile
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
import soundfile as sf

SAMPLE_RATE = 22050
SEED = 20260
ESPEAK = ["espeak-ng", "-v", "vi", "-s", "150"]

SPEECH_DBFS = -22.0          # active speech level (RMS over voiced frames)
LEVEL_JITTER_DB = 3.0        # ± per sentence
PEAK_CEILING_DBFS = -5.0     # per-sentence peak cap (room, noise and hum add ~0.8 dB)
NOISE_DBFS = -62.0           # pink-ish room noise, RMS
HUM_DBFS = -58.0             # 50 Hz mains hum with a few harmonics, RMS
SENTENCE_PAUSE = (0.3, 0.8)
PARAGRAPH_PAUSE = (0.6, 1.0)
CHAPTER_PAUSE = (3.0, 3.5)
HEAD_TONE = 0.8
TAIL_TONE = 2.0
TRIM_DBFS = -55.0            # espeak's own leading/trailing silence is cut at this level


@dataclass
class Chapter:
    title: str                         # as written in session.toml
    spoken_title: str                  # as spoken at the start of the chapter
    paragraphs: list[list[str]] = field(default_factory=list)


CHAPTERS = [
    Chapter(
        "Chương 1: Con Rồng cháu Tiên",
        "Chương một. Con Rồng cháu Tiên.",
        [
            [
                "Ngày xửa ngày xưa, ở vùng đất Lạc Việt có một vị thần tên là Lạc Long Quân.",
                "Thần thuộc nòi rồng, sức khỏe phi thường, thường giúp dân diệt trừ yêu quái.",
            ],
            [
                "Bấy giờ, ở vùng núi cao phương bắc có nàng Âu Cơ, thuộc dòng tiên, xinh đẹp tuyệt trần.",
                "Hai người gặp nhau, đem lòng yêu thương rồi nên vợ nên chồng.",
            ],
            [
                "Ít lâu sau, Âu Cơ sinh ra một bọc trăm trứng, nở thành trăm người con khỏe mạnh.",
                "Rồng quen ở nước, tiên quen ở núi, nên hai người đành chia con.",
                "Năm mươi người con theo cha xuống biển, năm mươi người con theo mẹ lên núi.",
                "Vì thế, người Việt vẫn tự hào gọi mình là con Rồng cháu Tiên.",
            ],
        ],
    ),
    Chapter(
        "Chương 2: Thánh Gióng",
        "Chương hai. Thánh Gióng.",
        [
            [
                "Đời Hùng Vương thứ sáu, ở làng Gióng có hai ông bà lão hiền lành mà mãi chưa có con.",
                "Một hôm, bà lão ướm chân vào một vết chân rất to ngoài đồng, về nhà thì có mang, sinh ra một cậu bé.",
            ],
            [
                "Lạ thay, cậu bé lên ba tuổi mà vẫn không biết nói, không biết cười.",
                "Khi giặc Ân kéo đến, nhà vua sai sứ giả đi khắp nơi tìm người tài giỏi.",
                "Nghe tiếng sứ giả, cậu bé bỗng cất tiếng nói, xin mẹ mời sứ giả vào nhà.",
            ],
            [
                "Cậu xin vua một con ngựa sắt, một chiếc roi sắt và một bộ áo giáp sắt.",
                "Từ hôm đó, cậu lớn nhanh như thổi, cả làng góp gạo nuôi cậu.",
                "Giặc đến, cậu vươn vai thành tráng sĩ, nhảy lên ngựa sắt xông thẳng vào quân thù.",
                "Roi sắt gãy, tráng sĩ nhổ những bụi tre bên đường quật vào giặc.",
                "Giặc tan, Gióng cưỡi ngựa lên đỉnh núi Sóc rồi bay thẳng về trời.",
            ],
        ],
    ),
    Chapter(
        "Chương 3: Sơn Tinh, Thủy Tinh",
        "Chương ba. Sơn Tinh, Thủy Tinh.",
        [
            [
                "Vua Hùng thứ mười tám có người con gái tên là Mị Nương, đẹp như hoa, tính nết hiền dịu.",
            ],
            [
                "Có hai chàng trai đến cầu hôn, Sơn Tinh, chúa vùng non cao, và Thủy Tinh, chúa vùng nước thẳm.",
                "Vua phán rằng ai mang đủ sính lễ đến trước thì được rước Mị Nương về.",
            ],
            [
                "Sáng hôm sau, Sơn Tinh đến trước với voi chín ngà, gà chín cựa, ngựa chín hồng mao.",
                "Thủy Tinh đến sau, nổi giận, hô mưa gọi gió, dâng nước đánh Sơn Tinh.",
                "Nước dâng lên bao nhiêu, Sơn Tinh lại nâng đồi núi cao lên bấy nhiêu.",
                "Thủy Tinh thua, nhưng năm nào cũng dâng nước báo thù, gây nên lũ lụt hằng năm.",
            ],
        ],
    ),
    Chapter(
        "Chương 4: Sự tích trầu cau",
        "Chương bốn. Sự tích trầu cau.",
        [
            [
                "Ngày xưa có hai anh em nhà nọ, hình dáng giống nhau như đúc, thương yêu nhau hết mực.",
                "Người anh lấy vợ, ít gần gũi em như trước, người em buồn bã bỏ nhà ra đi.",
            ],
            [
                "Đến bên một dòng suối, người em kiệt sức, ngồi khóc rồi hóa thành một tảng đá vôi.",
                "Người anh đi tìm em, ngồi tựa vào tảng đá mà chết, hóa thành một cây cau.",
                "Người vợ đi tìm chồng, ôm lấy thân cau mà khóc, hóa thành cây trầu quấn quanh.",
            ],
            [
                "Về sau, người ta nhai lá trầu với quả cau và chút vôi thì thấy màu đỏ thắm.",
                "Từ đó, miếng trầu là đầu câu chuyện, là lễ vật không thể thiếu trong ngày cưới.",
            ],
        ],
    ),
]

TAKES = [("take-01.flac", [0, 1]), ("take-02.flac", [2, 3])]

SESSION_TOML = """\
[book]
title = "Truyện cổ tích Việt Nam chọn lọc"
subtitle = "Bốn truyện kể cho thiếu nhi"
authors = ["Thư viện tỉnh (biên soạn)"]
narrators = ["Giọng đọc tổng hợp espeak-ng"]
language = "vie"
publisher = "Thư viện tỉnh Bình Dương"
year = 2026
summary = "Bốn truyện cổ tích quen thuộc của Việt Nam kể lại ngắn gọn: Con Rồng cháu Tiên, Thánh Gióng, Sơn Tinh, Thủy Tinh và Sự tích trầu cau (chuyện hai anh em hoá thành tảng đá vôi và cây cau). Bản ghi mẫu dùng giọng đọc tổng hợp (espeak-ng), không phải người đọc thật."
subjects = ["Truyện cổ tích", "Văn học dân gian"]
access_policy = "public"
profile = "library-streaming"

[[takes]]
file = "take-01.flac"

[[takes]]
file = "take-02.flac"

[chapters]
detect = "pauses"
titles = [{titles}]
"""


def db_to_amp(db: float) -> float:
    return float(10.0 ** (db / 20.0))


def rms(x: np.ndarray) -> float:
    return float(np.sqrt(np.mean(np.square(x, dtype=np.float64)))) if len(x) else 0.0


def frame_rms_db(x: np.ndarray, frame: int) -> np.ndarray:
    n = len(x) // frame
    frames = x[: n * frame].reshape(n, frame).astype(np.float64)
    return 20.0 * np.log10(np.sqrt(np.mean(frames ** 2, axis=1)) + 1e-12)


def speak(text: str, workdir: Path) -> np.ndarray:
    """One sentence from espeak-ng, as float64 in [-1, 1], edges trimmed."""
    wav = workdir / "sentence.wav"
    subprocess.run([*ESPEAK, "-w", str(wav), text], check=True)
    audio, rate = sf.read(wav, dtype="float64")
    if rate != SAMPLE_RATE:
        raise RuntimeError(f"espeak-ng gave {rate} Hz, expected {SAMPLE_RATE} Hz")
    frame = int(0.005 * SAMPLE_RATE)
    loud = np.flatnonzero(frame_rms_db(audio, frame) > TRIM_DBFS)
    if len(loud) == 0:
        raise RuntimeError(f"espeak-ng produced silence for: {text!r}")
    return audio[loud[0] * frame: (loud[-1] + 1) * frame]


def set_level(audio: np.ndarray, target_dbfs: float) -> np.ndarray:
    """Scale so the active level (RMS over 50 ms frames within 30 dB of the
    loudest frame) is ``target_dbfs``, but never let the peak pass the ceiling."""
    frame = int(0.05 * SAMPLE_RATE)
    levels = frame_rms_db(audio, frame)
    active = levels > levels.max() - 30.0
    power = np.mean(10.0 ** (levels[active] / 10.0))
    gain = db_to_amp(target_dbfs) / np.sqrt(power)
    peak = np.max(np.abs(audio)) * gain
    if peak > db_to_amp(PEAK_CEILING_DBFS):
        gain *= db_to_amp(PEAK_CEILING_DBFS) / peak
    return audio * gain


def fft_convolve(x: np.ndarray, h: np.ndarray) -> np.ndarray:
    n = len(x) + len(h) - 1
    size = 1 << (n - 1).bit_length()
    y = np.fft.irfft(np.fft.rfft(x, size) * np.fft.rfft(h, size), size)
    return y[: len(x)]


def room_impulse(rng: np.random.Generator) -> np.ndarray:
    """Direct sound plus a short, darkened exponential tail (RT60 ≈ 0.3 s, −16 dB)."""
    length = int(0.35 * SAMPLE_RATE)
    t = np.arange(length) / SAMPLE_RATE
    tail = rng.standard_normal(length) * np.exp(-6.91 * t / 0.3)
    tail = np.convolve(tail, np.ones(4) / 4, mode="same")          # soften the highs
    tail[: int(0.004 * SAMPLE_RATE)] = 0.0                          # pre-delay
    tail *= db_to_amp(-16.0) / np.sqrt(np.sum(tail ** 2))
    tail[0] = 1.0
    return tail


def pink_noise(n: int, rng: np.random.Generator) -> np.ndarray:
    spectrum = np.fft.rfft(rng.standard_normal(n))
    freqs = np.fft.rfftfreq(n, 1.0 / SAMPLE_RATE)
    shape = 1.0 / np.sqrt(np.maximum(freqs, 20.0))
    shape[freqs > 9000] *= 0.5                                      # mic/room roll-off
    noise = np.fft.irfft(spectrum * shape, n)
    return noise * db_to_amp(NOISE_DBFS) / rms(noise)


def mains_hum(n: int, rng: np.random.Generator) -> np.ndarray:
    t = np.arange(n) / SAMPLE_RATE
    hum = sum(a * np.sin(2 * np.pi * f * t + rng.uniform(0, 2 * np.pi))
              for f, a in ((50, 1.0), (100, 0.35), (150, 0.2)))
    return hum * db_to_amp(HUM_DBFS) / rms(hum)


def synthesise_take(chapter_ids: list[int], rng: np.random.Generator, workdir: Path):
    """Return (audio, chapter marks) for one take; marks are dicts with times in seconds."""
    pieces: list[np.ndarray] = []
    cursor = 0  # samples

    def silence(seconds: float) -> None:
        nonlocal cursor
        n = int(round(seconds * SAMPLE_RATE))
        pieces.append(np.zeros(n))
        cursor += n

    def say(text: str) -> None:
        nonlocal cursor
        level = SPEECH_DBFS + rng.uniform(-LEVEL_JITTER_DB, LEVEL_JITTER_DB)
        audio = set_level(speak(text, workdir), level)
        pieces.append(audio)
        cursor += len(audio)

    marks = []
    silence(HEAD_TONE)
    for position, index in enumerate(chapter_ids):
        chapter = CHAPTERS[index]
        gap = None
        if position > 0:
            gap_start = cursor / SAMPLE_RATE
            silence(rng.uniform(*CHAPTER_PAUSE))
            gap = [round(gap_start, 6), round(cursor / SAMPLE_RATE, 6)]
        speech_start = cursor / SAMPLE_RATE
        marks.append({
            "title": chapter.title,
            "start_s": 0.0 if position == 0 else round(speech_start, 6),
            "speech_start_s": round(speech_start, 6),
            "gap_s": gap,
        })
        say(chapter.spoken_title)
        for paragraph in chapter.paragraphs:
            silence(rng.uniform(*PARAGRAPH_PAUSE))
            for number, sentence in enumerate(paragraph):
                if number > 0:
                    silence(rng.uniform(*SENTENCE_PAUSE))
                say(sentence)
    silence(TAIL_TONE)

    speech = fft_convolve(np.concatenate(pieces), room_impulse(rng))
    n = len(speech)
    audio = speech + pink_noise(n, rng) + mains_hum(n, rng)
    return audio, marks


def write_atomically(path: Path, write) -> None:
    fd, tmp = tempfile.mkstemp(prefix=f".{path.stem}-", suffix=path.suffix, dir=path.parent)
    os.close(fd)
    try:
        write(Path(tmp))
        os.chmod(tmp, 0o644)
        os.replace(tmp, path)
    except BaseException:
        Path(tmp).unlink(missing_ok=True)
        raise


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--out", type=Path, default=Path(__file__).parent / "demo-session")
    args = parser.parse_args(argv)
    out: Path = args.out
    out.mkdir(parents=True, exist_ok=True)

    rng = np.random.default_rng(SEED)
    expected = []
    with tempfile.TemporaryDirectory() as tmp:
        for file_name, chapter_ids in TAKES:
            audio, marks = synthesise_take(chapter_ids, rng, Path(tmp))
            peak = float(np.max(np.abs(audio)))
            if peak >= db_to_amp(-3.0):
                raise RuntimeError(f"{file_name}: peak {20 * np.log10(peak):.2f} dBFS ≥ −3 dBFS")
            pcm = np.round(audio * 32767.0).astype(np.int16)
            write_atomically(out / file_name, lambda p, pcm=pcm: sf.write(
                p, pcm, SAMPLE_RATE, format="FLAC", subtype="PCM_16"))
            for mark in marks:
                expected.append({"take": file_name, **mark})
            print(f"{file_name}: {len(audio) / SAMPLE_RATE:.2f} s, "
                  f"{(out / file_name).stat().st_size / 1e6:.2f} MB", file=sys.stderr)

    write_atomically(out / "expected-chapters.json", lambda p: p.write_text(
        json.dumps(expected, ensure_ascii=False, indent=2) + "\n", encoding="utf-8"))
    titles = ", ".join(json.dumps(c.title, ensure_ascii=False) for c in CHAPTERS)
    write_atomically(out / "session.toml", lambda p: p.write_text(
        SESSION_TOML.replace("{titles}", titles), encoding="utf-8"))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
