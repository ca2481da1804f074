"""The Readium `.audiobook` package: a zip of the manifest and the files it links to."""
from __future__ import annotations

import shutil
import zipfile
from pathlib import Path


def write_audiobook_zip(dst: Path, manifest: bytes, files: list[tuple[str, Path]]) -> None:
    """A Readium `.audiobook` package: `manifest.json` first at the root, then the resources under
    the same relative paths the manifest uses. Audio is stored (already compressed); only the
    manifest is deflated."""
    with zipfile.ZipFile(dst, "w") as zf:
        zf.writestr(zipfile.ZipInfo("manifest.json", date_time=(2020, 1, 1, 0, 0, 0)), manifest,
                    compress_type=zipfile.ZIP_DEFLATED)
        for arcname, path in files:
            info = zipfile.ZipInfo(arcname, date_time=(2020, 1, 1, 0, 0, 0))
            info.compress_type = zipfile.ZIP_STORED
            with open(path, "rb") as src, zf.open(info, "w", force_zip64=True) as out:
                shutil.copyfileobj(src, out, 1 << 20)
