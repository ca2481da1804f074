"""`sachnoi measure` and `sachnoi master`: the mastering chain from the command line."""
from __future__ import annotations

import json
import os
import sys
import tempfile
from concurrent.futures import ProcessPoolExecutor

import click
from web.labels import cli_text

AUDIO_EXTENSIONS = (".wav", ".flac", ".aif", ".aiff", ".ogg", ".w64", ".rf64")


def _inputs(path: str) -> list[str]:
    if os.path.isdir(path):
        files = sorted(os.path.join(path, f) for f in os.listdir(path)
                       if f.lower().endswith(AUDIO_EXTENSIONS) and not f.startswith("."))
        if not files:
            raise click.ClickException(
                f"{path}: thư mục không có tệp âm thanh (no audio files in the folder)")
        return files
    return [path]


def master_one(src: str, out_dir: str, profile_name: str, progress=None, denoise: str | None = None) -> dict:
    """Master one chapter file; returns its qc.json entry (also used by the worker pool)."""
    # imported when the command runs: `sachnoi` starts without loading the whole app (~0.5 s, not ~6 s)
    from delivery.errors import DeliveryError
    from mastering.errors import MasteringError
    from mastering.plan import ChainParams
    from mastering.profiles import get_profile
    from studio.master import master_with_delivery
    profile = get_profile(profile_name)
    stem = os.path.splitext(os.path.basename(src))[0]
    dst = os.path.join(out_dir, f"{stem}.flac")
    try:
        fmt = profile.delivery
        # the delivery file (ACX: MP3 CBR) is encoded while the master is written
        res = master_with_delivery(src, dst, profile, progress=progress, params=ChainParams(denoise=denoise),
                                   delivery=os.path.join(out_dir, f"{stem}.{fmt.extension}") if fmt else None)
        delivery = res.delivery
    except (MasteringError, DeliveryError) as exc:
        return {"input": src, "master": None, "delivery": None, "passed": False,
                "failures": ["input"], "error": str(exc), "qc": None}
    qc = res.qc.to_dict()
    return {"input": src, "master": dst, "delivery": delivery, "passed": res.qc.passed,
            "failures": qc["failures"], "messages": [r.message for r in res.qc.failures], "qc": qc}


def register(group: click.Group) -> None:
    """Add this area's commands to the top-level group."""

    @group.command("measure")
    @click.argument("file", type=click.Path(dir_okay=False))
    @click.option("--json", "as_json", is_flag=True, help="In JSON (print as JSON).")
    @click.option("--quiet", is_flag=True, help="Không hiện tiến trình (no progress bar).")
    def measure_cmd(file: str, as_json: bool, quiet: bool) -> None:
        """Đo độ to BS.1770 / EBU R128 và các chỉ số ACX của một tệp (measure one file)."""
        # imported when the command runs: `sachnoi` starts without loading the whole app (~0.5 s, not ~6 s)
        from tqdm import tqdm

        from mastering.errors import MasteringError
        from mastering.meter import measure_file
        bar = None if quiet or as_json else tqdm(total=100, unit="%", leave=False, file=sys.stderr)

        def progress(f: float) -> None:
            if bar is not None:
                bar.n = int(f * 100)
                bar.refresh()
        try:
            m = measure_file(file, progress=progress)
        except MasteringError as exc:
            raise click.ClickException(cli_text(exc)) from None
        finally:
            if bar is not None:
                bar.close()
        d = m.to_dict()
        if as_json:
            click.echo(json.dumps(d, ensure_ascii=False))
        else:
            for k, v in d.items():
                click.echo(f"{k:22s} {v}")

    @group.command("master")
    @click.argument("input_path", metavar="INPUT", type=click.Path(exists=True))
    @click.option("--profile", "profile_name", default=None,
                  help="Hồ sơ xuất bản: acx, library-streaming (mặc định), podcast, ebu-r128.")
    @click.option("--out", "out_dir", required=True, type=click.Path(file_okay=False),
                  help="Thư mục ghi bản master và qc.json (output folder).")
    @click.option("--jobs", default=0, type=int,
                  help="Số chương xử lý song song, 0 = số lõi CPU (parallel chapters).")
    @click.option("--quiet", is_flag=True, help="Không hiện tiến trình (no progress bar).")
    @click.option("--denoise", type=click.Choice(["off", "spectral", "neural"]), default=None,
                  help="Giảm ồn dưới lời đọc; mặc định theo hồ sơ (speech enhancement; default: the profile's).")
    def master_cmd(input_path: str, profile_name: str | None, out_dir: str, jobs: int, quiet: bool,
                   denoise: str | None) -> None:
        """Master một tệp hoặc các chương của một buổi thu (master one file or a session folder)."""
        # imported when the command runs: `sachnoi` starts without loading the whole app (~0.5 s, not ~6 s)
        from tqdm import tqdm

        from mastering.errors import MasteringError
        from mastering.profiles import DEFAULT_PROFILE, get_profile
        name = profile_name or DEFAULT_PROFILE
        try:
            get_profile(name)
        except MasteringError as exc:
            raise click.ClickException(cli_text(exc)) from None
        files = _inputs(input_path)
        os.makedirs(out_dir, exist_ok=True)
        jobs = jobs or (os.cpu_count() or 1)
        jobs = max(1, min(jobs, len(files)))
        entries: list[dict] = []
        with tqdm(total=len(files), unit="chương", disable=quiet, file=sys.stderr) as bar:
            if jobs == 1:
                for f in files:
                    entries.append(master_one(f, out_dir, name, denoise=denoise))
                    bar.update(1)
            else:
                # the chain's modules (scipy: ~0.8 CPU s) imported once here: the forked workers share them
                import studio.master  # noqa: F401
                with ProcessPoolExecutor(max_workers=jobs) as pool:
                    futs = [pool.submit(master_one, f, out_dir, name, None, denoise) for f in files]
                    for fut in futs:
                        entries.append(fut.result())
                        bar.update(1)
        summary = {"profile": name, "passed": all(e["passed"] for e in entries), "chapters": entries}
        qc_path = os.path.join(out_dir, "qc.json")
        fd, tmp = tempfile.mkstemp(prefix=".tmp-", suffix=".json", dir=out_dir)
        with os.fdopen(fd, "w", encoding="utf-8") as fh:
            json.dump(summary, fh, ensure_ascii=False, indent=1)
        os.replace(tmp, qc_path)
        bad = [e for e in entries if not e["passed"]]
        for e in entries:
            state = "ĐẠT (pass)" if e["passed"] else "KHÔNG ĐẠT (fail)"
            click.echo(f"{os.path.basename(e['input'])}: {state}")
            if e.get("error"):
                click.echo(f"  {e['error']}")
            for msg in e.get("messages", []):
                click.echo(f"  {msg}")
        click.echo(f"qc.json: {qc_path}")
        if bad:
            sys.exit(1)
