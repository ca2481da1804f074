"""MARC 21 export read by the clients libraries use (issue 17 point 6): pymarc, yaz-marcdump (Debian
`yaz`), MARC::Record and MARC::Lint (Debian `libmarc-record-perl`, `libmarc-lint-perl`), through the
`sachnoi export marc` command and the web's `.mrc` link."""
from __future__ import annotations

import io
import subprocess

import pymarc
from click.testing import CliRunner

from catalog import marc
from catalog.db import make_engine, make_sessionmaker
from catalog.models import Rendition
from helpers import full_book, library

BASE = "https://thuvien.example.vn"
# ~16 KB of Vietnamese text (multi-byte UTF-8), the size that broke ISO 2709 readers
SUMMARY_16K = " ".join(f"Đoạn {i}: cuộc đời, chí hướng và những trận đánh của Trương Định ở Gò Công."
                       for i in range(200))

# Reads ISO 2709 with MARC::File::USMARC, prints decoding warnings, MARC::Lint warnings and the 520 count.
PERL_LINT = r"""
use strict; use warnings;
use MARC::File::USMARC; use MARC::Lint;
my $file = MARC::File::USMARC->in($ARGV[0]) or die "cannot open";
my $lint = MARC::Lint->new;
while (my $rec = $file->next()) {
  print "DECODE: $_\n" for $rec->warnings();
  $lint->check_record($rec);
  print "LINT: $_\n" for $lint->warnings;
  my @summary = $rec->field('520');
  print "520: ", scalar(@summary), "\n";
}
"""


def perl_read(path) -> tuple[list[str], list[int]]:
    """(warnings from MARC::Record and MARC::Lint, 520 count per record)."""
    out = subprocess.run(["perl", "-e", PERL_LINT, str(path)], capture_output=True, text=True, timeout=60)
    assert out.returncode == 0, out.stderr
    lines = out.stdout.splitlines()
    return ([l for l in lines if l.startswith(("DECODE:", "LINT:"))] + [l for l in out.stderr.splitlines() if l],
            [int(l.split()[1]) for l in lines if l.startswith("520:")])


def yaz_read(path, fmt: str = "marc") -> str:
    out = subprocess.run(["yaz-marcdump", "-i", fmt, "-o", "line", str(path)], capture_output=True, text=True,
                         timeout=60)
    assert out.returncode == 0 and not out.stderr.strip(), out.stderr
    return out.stdout


def _export(sqlite_url, tmp_path, monkeypatch, *args, base: str | None = BASE):
    from web.cli import main
    monkeypatch.setenv("SACHNOI_HOME", str(tmp_path / "home"))
    monkeypatch.setenv("SACHNOI_DATABASE_URL", sqlite_url)
    if base is None:
        monkeypatch.delenv("SACHNOI_PUBLIC_BASE_URL", raising=False)
    else:
        monkeypatch.setenv("SACHNOI_PUBLIC_BASE_URL", base)
    return CliRunner().invoke(main, ["export", "marc", "--quiet", *args])


def _seed(sqlite_url, **extra):
    engine = make_engine(sqlite_url)
    with make_sessionmaker(engine)() as s:
        lib = library(s)
        made = [full_book(s, lib, **extra), full_book(s, lib, title="Hoà bình", summary="Ngắn.")]
        ids = [b.id for b in made]
        s.commit()
    engine.dispose()
    return ids


def test_16kb_summary_iso2709_reads_in_yaz_pymarc_and_marc_record(sqlite_url, tmp_path, monkeypatch):
    """17.6: a 16 KB summary made the ISO 2709 record unreadable (yaz "Bad value for data length",
    pymarc None, MARC::Record inventing fields). 520 is split under 9 999 bytes; every client reads
    every record whole, and MARC::Lint has nothing to say."""
    ids = _seed(sqlite_url, summary=SUMMARY_16K)
    out = tmp_path / "catalog.mrc"
    result = _export(sqlite_url, tmp_path, monkeypatch, "--out", str(out))
    assert result.exit_code == 0, result.output
    data = out.read_bytes()
    # ISO 2709 framing: each record's leader length matches, under 99 999 bytes
    offset, lengths = 0, []
    while offset < len(data):
        length = int(data[offset:offset + 5])
        assert data[offset + length - 1:offset + length] == b"\x1d"
        lengths.append(length)
        offset += length
    assert len(lengths) == 2 and max(lengths) < 99_999
    # pymarc reads both records, with the summary whole across repeated 520s, each under 9 999 bytes
    reader = pymarc.MARCReader(io.BytesIO(data), to_unicode=True, force_utf8=True)
    records = list(reader)
    assert None not in records and reader.current_exception is None
    long = records[0]  # the export runs in id order
    assert long["001"].data == f"sn{ids[0]:09d}"
    parts = [f["a"] for f in long.get_fields("520")]
    assert len(parts) >= 2 and " ".join(parts) == SUMMARY_16K
    assert all(len(f.as_marc("utf-8")) < 9_999 for f in long.fields)
    # yaz reads it without complaint and sees every 520
    dump = yaz_read(out)
    assert dump.count("\n520 ") == len(parts) + 1 and "Bad value" not in dump
    # MARC::Record decodes it without warnings; MARC::Lint finds nothing
    warnings, summaries = perl_read(out)
    assert warnings == [] and summaries == [len(parts), 1]


def test_record_never_passes_99999_bytes(session, tmp_path):
    """17.6: every record stays under 99 999 bytes; a summary that cannot fit is cut, and says so."""
    book = full_book(session, library(session), summary="Chuyện dài " * 40_000)  # ~440 KB
    data = marc.record_iso2709(book, BASE)
    assert len(data) < 99_999 and int(data[:5]) == len(data)
    path = tmp_path / "one.mrc"
    path.write_bytes(data)
    [rec] = list(pymarc.MARCReader(io.BytesIO(data), to_unicode=True, force_utf8=True))
    assert rec.get_fields("520")[-1]["a"].endswith("…")
    assert "\n520 " in yaz_read(path)
    assert perl_read(path)[0] == []


def test_nonmusical_sound_recording_coded_fully(session):
    """17.6: 008/30-31 blank means music: a spoken-word book gets literary-text codes; 245 ends as
    MARC::Lint expects; a cover JPEG or a package is not an audio file in 347; "Nghe sách nói" is the
    book page and the manifest has its own 856 with $q."""
    lib = library(session)
    book = full_book(session, lib)  # subjects "Lịch sử Việt Nam", "Tiểu thuyết"
    book.renditions.append(Rendition(kind="cover", name="cover", key="c.jpg", codec="image/jpeg"))
    book.renditions.append(Rendition(kind="audiobook", name="package", key="p.audiobook", codec="zip"))
    plain = full_book(session, lib, title="Không chủ đề", subjects=[], ddc="", subtitle="")
    session.flush()
    rec = marc.build_record(book, BASE)
    assert rec.leader[6] == "i" and rec["008"].data[30:32] == "fh"
    assert marc.build_record(plain, BASE)["008"].data[30:32] == "z "
    assert [f.data for f in rec.get_fields("007")][0] == "sr nmnnnnnnnne"
    assert rec["245"].value().endswith(".") and rec["245"]["c"].endswith(".")
    assert {(f["a"], f["b"]) for f in rec.get_fields("347")} == {("audio file", "MP3"), ("audio file", "AAC")}
    links = {f["u"]: f for f in rec.get_fields("856")}
    assert links[f"{BASE}/books/{book.id}"]["y"] == "Nghe sách nói"
    assert links[f"{BASE}/books/{book.id}/manifest.json"]["q"] == "application/audiobook+json"
    assert links[f"{BASE}/books/{book.id}/manifest.json"]["y"] != "Nghe sách nói"
    # no base URL: no link at all rather than a relative one
    assert marc.build_record(book, "").get_fields("856") == []


def test_cli_export_needs_public_base_url(sqlite_url, tmp_path, monkeypatch):
    """17.6: `sachnoi export marc` wrote relative 856 links; it uses PUBLIC_BASE_URL (or --base-url)
    and refuses, writing nothing, without one."""
    _seed(sqlite_url)
    out = tmp_path / "x.xml"
    refused = _export(sqlite_url, tmp_path, monkeypatch, "--out", str(out), base=None)
    assert refused.exit_code != 0 and "PUBLIC_BASE_URL" in refused.output and not out.exists()
    result = _export(sqlite_url, tmp_path, monkeypatch, "--out", str(out))
    assert result.exit_code == 0, result.output
    links = [f["u"] for r in pymarc.parse_xml_to_array(str(out)) for f in r.get_fields("856")]
    assert links and all(u.startswith(BASE + "/books/") for u in links)
    other = _export(sqlite_url, tmp_path, monkeypatch, "--out", str(tmp_path / "y.mrc"),
                    "--base-url", "https://khac.example.vn", base=None)
    assert other.exit_code == 0, other.output
    assert "https://khac.example.vn/books/" in yaz_read(tmp_path / "y.mrc")
    # MARCXML from the same command reads in yaz too
    assert "\n856 40 $u https://thuvien.example.vn/books/" in yaz_read(out, "marcxml")
