"""Coverage-guided fuzzing (atheris + libFuzzer) of the parsers that read untrusted media metadata:
the RIFF cue/labl walker, the magic-byte sniff and audio probe, the Audacity label parser, the
session.toml readers of ingest, and MARCXML import.

Guards against the peer bug class of media-metadata parsers crashing or hanging a media server
(a crafted tag, chunk or sidecar file taking down the library scan or the whole process).

Each target (tests/security/fuzz_targets/fuzz_*.py) runs in its own subprocess for a bounded time
(SACHNOI_FUZZ_SECONDS, default 8 s; -timeout=5 s per input, -rss_limit_mb=1024), starting from a
seed corpus of valid files built here. The targets accept only the parser's own error class; any
other exception, a failed check, a per-input timeout, an out-of-memory or a native crash fails the
test, which prints every crashing input as hex with the target's traceback.
"""
from __future__ import annotations

import io
import os
import re
import signal
import struct
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest
import soundfile as sf

pytest.importorskip("atheris", reason="atheris (test extra) is not installed for this Python")

from recordings.errors import NotAudioError  # noqa: E402
from recordings.probe import probe_audio, probe_audio_limited  # noqa: E402
from recordings.riff import cue_chunks  # noqa: E402

TARGETS = Path(__file__).resolve().parent / "fuzz_targets"
SECONDS = int(os.environ.get("SACHNOI_FUZZ_SECONDS", "8"))
RATE = 22050

pytestmark = pytest.mark.slow


def _run_fresh(cmd: list[str], *, timeout: float, env: dict) -> subprocess.CompletedProcess:
    """Run `cmd` as a grandchild, forked by a small shell, with its output as text.

    Linux keeps a process's peak RSS (`ru_maxrss`, which libFuzzer's -rss_limit_mb reads) across
    fork and exec: a target started straight from this pytest process, past 1 GB late in the whole
    suite, began "out of memory" at 1040 MB before running a single input. A process forked by the
    shell starts from the shell's few MB. On timeout the whole process group is killed."""
    proc = subprocess.Popen(["sh", "-c", '"$@" & wait $!', "sh", *cmd], stdout=subprocess.PIPE,
                            stderr=subprocess.STDOUT, text=True, errors="replace", env=env, start_new_session=True)
    try:
        out, _ = proc.communicate(timeout=timeout)
    except subprocess.TimeoutExpired:
        os.killpg(proc.pid, signal.SIGKILL)
        proc.communicate()
        raise
    return subprocess.CompletedProcess(proc.args, proc.returncode, out)


# -- seed corpora: valid inputs, so the fuzzer starts from real structure ------------------------------
def _audio(fmt: str = "WAV", subtype: str = "PCM_16", channels: int = 1, seconds: float = 0.05) -> bytes:
    t = np.arange(int(seconds * RATE)) / RATE
    tone = (0.2 * np.sin(2 * np.pi * 440 * t)).astype("float32")
    buf = io.BytesIO()
    sf.write(buf, np.stack([tone] * channels, axis=1), RATE, format=fmt, subtype=subtype)
    return buf.getvalue()


def _with_chunks(riff: bytes, extra: bytes) -> bytes:
    """A RIFF file with chunks appended and its size field fixed (as `append_cue_markers` does)."""
    riff += b"\x00" * (len(riff) & 1)
    return riff[:4] + struct.pack("<I", len(riff) - 8 + len(extra)) + riff[8:] + extra


def _region_chunk(cue_id: int, length_frames: int) -> bytes:
    ltxt = struct.pack("<II4sHHHH", cue_id, length_frames, b"rgn ", 0, 0, 0, 0)
    adtl = b"adtl" + b"ltxt" + struct.pack("<I", len(ltxt)) + ltxt + b"note" + struct.pack("<I", 6) + \
        struct.pack("<I", cue_id) + b"x\x00"
    return b"LIST" + struct.pack("<I", len(adtl)) + adtl


MARKED = [(110, "Chương 1"), (330, "cut"), (660, "Chương 2: Thánh Gióng")]


def riff_seeds() -> dict[str, bytes]:
    return {
        "cue-labl.wav": _with_chunks(_audio(), cue_chunks(MARKED)),
        "cue-region.wav": _with_chunks(_audio(), cue_chunks(MARKED) + _region_chunk(2, 220)),
        "rf64-cue.wav": _with_chunks(_audio("RF64"), cue_chunks(MARKED[:1])),
        "stereo24.wav": _with_chunks(_audio(subtype="PCM_24", channels=2), cue_chunks(MARKED[1:])),
    }


def probe_seeds() -> dict[str, bytes]:
    return {
        "cue-labl.wav": riff_seeds()["cue-labl.wav"],
        "float.wavex": _audio("WAVEX", "FLOAT"),
        "rf64.wav": _audio("RF64"),
        "take.flac": _audio("FLAC"),
        "take.aiff": _audio("AIFF"),
        "take.mp3": _audio("MP3", "MPEG_LAYER_III"),
    }


def label_seeds() -> dict[str, bytes]:
    labels = "0.000000\t0.000000\tChương 1\n12.500000\t14.250000\tcut\n\\\t200.000000\t4000.000000\n" \
             "95,5\t95,5\tChương 2: Thánh Gióng\n130.1\t131.0\txoá: đọc lại\n"
    return {"labels.txt": labels.encode("utf-8"), "labels-bom.txt": b"\xef\xbb\xbf" + labels.encode("utf-8")}


SESSION_TOMLS = {
    "book.toml": '[book]\ntitle = "Sách thử"\nauthors = ["Tô Hoài"]\n[chapters]\nmin_chapter_s = 4.0\n'
                 'titles = ["Chương 1", "Chương 2"]\n',
    "takes.toml": '[[takes]]\nfile = "a.wav"\nlabels = "a.txt"\n[[takes]]\nfile = "b.wav"\n',
    "pickup.toml": '[[takes]]\nfile = "a.wav"\n[[takes]]\nfile = "b.wav"\nreplaces = "a.wav"\n'
                   'replace_start_s = 0.1\nreplace_end_s = 0.3\n',
    "list.toml": '[[chapters.list]]\ntake = "b.wav"\nstart_s = 0.0\ntitle = "Mở đầu"\n'
                 '[[chapters.list]]\ntake = "b.wav"\nstart_s = 0.25\ntitle = "Chương 1"\n'
                 '[[cuts]]\ntake = "a.wav"\nstart_s = 0.1\nend_s = 0.2\n'
                 '[chapters]\nthreshold_dbfs = -45.0\nmin_pause_s = 1.5\nhead_room_tone_s = 0.5\n',
}


def session_seeds() -> dict[str, bytes]:
    """Even first byte: the file's text follows; odd: bytes for the target's structure-aware builder."""
    seeds = {name: b"\x00" + text.encode("utf-8") for name, text in SESSION_TOMLS.items()}
    seeds.update({f"built-{n}": bytes([1]) + bytes(range(n, 256, 3)) for n in (0, 1, 2)})
    return seeds


MARC_NS = 'xmlns="http://www.loc.gov/MARC21/slim"'
MARC_RECORD = """<record>
  <leader>00000nam a2200000 a 4500</leader>
  <controlfield tag="001">KOHA-1234</controlfield>
  <controlfield tag="008">190312s2019    vm            000 0 vie d</controlfield>
  <datafield tag="020" ind1=" " ind2=" "><subfield code="a">978-604-1-23456-7 (bìa mềm)</subfield></datafield>
  <datafield tag="082" ind1="0" ind2="4"><subfield code="a">895.922/34</subfield></datafield>
  <datafield tag="100" ind1="0" ind2=" "><subfield code="a">Đoàn Giỏi,</subfield></datafield>
  <datafield tag="245" ind1="1" ind2="0"><subfield code="a">Đất rừng phương Nam :</subfield><subfield code="b">tiểu thuyết /</subfield></datafield>
  <datafield tag="264" ind1=" " ind2="1"><subfield code="b">Kim Đồng,</subfield><subfield code="c">2019.</subfield></datafield>
  <datafield tag="490" ind1="0" ind2=" "><subfield code="a">Văn học thiếu nhi ;</subfield><subfield code="v">12</subfield></datafield>
  <datafield tag="520" ind1=" " ind2=" "><subfield code="a">Cuộc phiêu lưu của bé An.</subfield></datafield>
  <datafield tag="650" ind1=" " ind2="7"><subfield code="a">Văn học</subfield><subfield code="z">Việt Nam</subfield></datafield>
  <datafield tag="700" ind1="0" ind2=" "><subfield code="a">Lê Văn A</subfield><subfield code="4">trl</subfield></datafield>
 </record>"""


def marc_seeds() -> dict[str, bytes]:
    collection = f'<?xml version="1.0" encoding="UTF-8"?>\n<collection {MARC_NS}>\n {MARC_RECORD}\n</collection>\n'
    single = MARC_RECORD.replace("<record>", f"<record {MARC_NS}>", 1)
    return {"collection.xml": collection.encode("utf-8"), "record.xml": single.encode("utf-8")}


# -- running one target ------------------------------------------------------------------------------
def fuzz(name: str, seeds: dict[str, bytes], tmp_path: Path, max_len: int) -> tuple[Path, int]:
    """Run fuzz_<name>.py for SECONDS; fail with every crashing input (hex) and the traceback.

    Returns the corpus folder (seeds plus what libFuzzer kept) and the number of inputs run."""
    corpus, artifacts, work = tmp_path / "corpus", tmp_path / "artifacts", tmp_path / "work"
    for folder in (corpus, artifacts, work):
        folder.mkdir()
    for seed_name, data in seeds.items():
        (corpus / seed_name).write_bytes(data)
    cmd = [sys.executable, str(TARGETS / f"fuzz_{name}.py"), f"-max_total_time={SECONDS}", "-timeout=5",
           "-rss_limit_mb=1024", f"-max_len={max_len}", f"-artifact_prefix={artifacts}/", "-print_final_stats=1"]
    dictionary = TARGETS / f"fuzz_{name}.dict"
    if dictionary.exists():
        cmd.append(f"-dict={dictionary}")
    env = dict(os.environ, SACHNOI_FUZZ_WORKDIR=str(work))
    try:
        done = _run_fresh(cmd + [str(corpus)], timeout=SECONDS + 90, env=env)
    except subprocess.TimeoutExpired as exc:
        pytest.fail(f"fuzz_{name}: libFuzzer itself did not stop after {SECONDS} s: {exc}")
    found = sorted(artifacts.iterdir())
    if done.returncode != 0 or found:
        shown = "\n".join(f"--- {p.name} ({p.stat().st_size} bytes) ---\n{p.read_bytes()[:4096].hex(' ', 16)}"
                          for p in found)
        marks = [done.stdout.find(m) for m in ("=== Uncaught Python exception", "=== Timeout", "ERROR: libFuzzer")]
        start = min([m for m in marks if m >= 0] or [max(0, len(done.stdout) - 6000)])
        native = ""
        if "deadly signal" in done.stdout and found:  # a native crash: replay it for the Python stack
            replay = _run_fresh(cmd[:2] + ["-timeout=5", str(found[0])], timeout=120,
                                env=dict(env, SACHNOI_FUZZ_REPLAY="1"))
            native = f"\n--- replay of {found[0].name} ---\n{replay.stdout[-4000:]}"
        pytest.fail(f"fuzz_{name}: libFuzzer exit {done.returncode}; {len(found)} input(s) written "
                    f"(crash-*: exception or native crash, timeout-*: > 5 s, oom-*: > 1 GB).\n{shown}\n"
                    f"--- target output (traceback) ---\n{done.stdout[start:start + 8000]}{native}", pytrace=False)
    runs = re.search(r"stat::number_of_executed_units: (\d+)", done.stdout)
    coverage = re.findall(r"cov: (\d+)", done.stdout)
    assert runs and coverage, done.stdout[-3000:]
    assert int(coverage[-1]) > 0, "the target is not instrumented (no coverage)"
    return corpus, int(runs.group(1))


@pytest.mark.parametrize("name, seeds, max_len, min_runs", [
    pytest.param("riff", riff_seeds, 8192, 1000, id="riff"),
    pytest.param("labels", label_seeds, 2048, 1000, id="labels"),
    pytest.param("session_toml", session_seeds, 4096, 200, id="session_toml"),
    pytest.param("marcxml", marc_seeds, 8192, 200, id="marcxml"),
])
def test_parser_survives_fuzzing(name, seeds, max_len, min_runs, tmp_path):
    corpus, runs = fuzz(name, seeds(), tmp_path, max_len)
    assert runs >= min_runs, f"fuzz_{name} ran only {runs} inputs in {SECONDS} s"


def test_probe_survives_fuzzing_and_the_limited_probe_agrees(tmp_path):
    """The in-process probe is fuzzed; then a few of the mutated files libFuzzer kept go through
    `probe_audio_limited` (the child process the upload door uses), which must agree with it."""
    corpus, runs = fuzz("probe", probe_seeds(), tmp_path, 16384)
    assert runs >= 200, f"fuzz_probe ran only {runs} inputs in {SECONDS} s"
    mutated = sorted(p for p in corpus.iterdir() if p.name not in probe_seeds())
    files = mutated[:: max(1, len(mutated) // 4)][:4] or sorted(corpus.iterdir())[:4]
    for path in files:
        try:
            inside = probe_audio(path, min_duration_s=0.01)
        except NotAudioError as exc:
            inside = str(exc)
        try:
            outside = probe_audio_limited(path, timeout_s=30, min_duration_s=0.01)
        except NotAudioError as exc:
            outside = str(exc)
        assert outside == inside, (path.read_bytes()[:256].hex(), inside, outside)


# -- the seeds are valid input (otherwise the fuzzer starts from nothing) -------------------------------
def test_seeds_are_valid_input(tmp_path):
    import importlib.util
    from catalog.marc_import import print_fields, read_records
    from recordings.riff import read_cue_markers
    from studio.markers import parse_audacity_labels, take_marks
    from studio.session_folder import read_session_folder
    for name, data in riff_seeds().items():
        (tmp_path / name).write_bytes(data)
        assert len(read_cue_markers(tmp_path / name)) >= 1, name
    assert read_cue_markers(tmp_path / "cue-region.wav")[1].length_frames == 220
    for name, data in probe_seeds().items():
        (tmp_path / name).write_bytes(data)
        assert probe_audio(tmp_path / name, min_duration_s=0.01).frames > 0, name
    for data in label_seeds().values():
        assert len(parse_audacity_labels(data.decode("utf-8-sig"))) == 4
    for data in marc_seeds().values():
        assert print_fields(read_records(data)[0])["isbn_print"] == "9786041234567"
    spec = importlib.util.spec_from_file_location("harness", TARGETS / "harness.py")
    harness = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(harness)
    folder = harness.make_session_folder(tmp_path / "session")
    for name, text in SESSION_TOMLS.items():
        (folder / "session.toml").write_text(text, encoding="utf-8")
        session = read_session_folder(folder)
        assert all(len(take_marks(folder, info, session.settings)) >= 2 for info in session.takes), name
