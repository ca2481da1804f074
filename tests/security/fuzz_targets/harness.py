"""What every atheris target in this folder shares: a scratch folder and the libFuzzer entry point.

A target is a script: `python fuzz_<name>.py [libFuzzer flags] CORPUS_DIR` fuzzes, and
`python fuzz_<name>.py FILE` replays one input (with SACHNOI_FUZZ_REPLAY=1 a native crash also
prints its Python stack). It imports the code under test inside
`atheris.instrument_imports(...)` (coverage guidance for Python), defines `one_input(data: bytes)`
that catches only the parser's own documented error, and calls `run(one_input)`. Any other
exception, a failed check, a hang past `-timeout` or a native crash ends the run: libFuzzer
writes the input to `crash-*` / `timeout-*` / `oom-*` under `-artifact_prefix` and exits non-zero.
"""
from __future__ import annotations

import os
import sys
import tempfile
from pathlib import Path
from typing import Callable


def workdir() -> Path:
    """The folder a target may write its input files to (SACHNOI_FUZZ_WORKDIR, else a new temp dir)."""
    given = os.environ.get("SACHNOI_FUZZ_WORKDIR")
    path = Path(given) if given else Path(tempfile.mkdtemp(prefix="sachnoi-fuzz-"))
    path.mkdir(parents=True, exist_ok=True)
    return path


def make_session_folder(folder: Path, rate: int = 22050) -> Path:
    """Two 0.6 s takes: `a.wav` with the Audacity label file `a.txt`, `b.wav` with cue/labl chunks."""
    import numpy as np
    import soundfile as sf
    from recordings.riff import append_cue_markers
    folder.mkdir(parents=True, exist_ok=True)
    tone = (0.2 * np.sin(2 * np.pi * 440 * np.arange(int(0.6 * rate)) / rate)).astype("float32")
    for name in ("a.wav", "b.wav"):
        sf.write(folder / name, tone, rate, subtype="PCM_16")
    append_cue_markers(folder / "b.wav", [(0, "Chương 1"), (4410, "cut"), (8820, "Chương 2")])
    (folder / "a.txt").write_text("0.0\t0.0\tChương 1\n0.1\t0.2\tcut\n0.3\t0.3\tChương 2\n", encoding="utf-8")
    return folder


def run(one_input: Callable[[bytes], None]) -> None:
    import atheris
    atheris.Setup(sys.argv, one_input)
    if os.environ.get("SACHNOI_FUZZ_REPLAY"):
        import faulthandler
        faulthandler.enable()  # replaying: show the Python stack of a native crash (libFuzzer then writes no file)
    atheris.Fuzz()
