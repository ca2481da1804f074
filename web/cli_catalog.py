"""`sachnoi` commands for the catalog area: `export marc`, `import marc`, `catalog reindex`."""
from __future__ import annotations

from pathlib import Path

import click

from web.config import load_settings
from web.labels import cli_text


def _sessions():
    # imported when the command runs: `sachnoi` starts without loading the whole app (~0.5 s, not ~6 s)
    from catalog.db import make_engine, make_sessionmaker
    from catalog.migrate import upgrade
    settings = load_settings()
    Path(settings["HOME"]).mkdir(parents=True, exist_ok=True)
    upgrade(settings["DATABASE_URL"])
    return settings, make_sessionmaker(make_engine(settings["DATABASE_URL"]))


def _group(parent: click.Group, name: str, help_text: str) -> click.Group:
    """The sub-group `name`, shared with other areas that add commands to it."""
    existing = parent.commands.get(name)
    if isinstance(existing, click.Group):
        return existing
    group = click.Group(name, help=help_text)
    parent.add_command(group)
    return group


def register(group: click.Group) -> None:
    """Add this area's commands to the top-level group."""
    export = _group(group, "export", "Xuất dữ liệu (export data).")
    importer = _group(group, "import", "Nhập dữ liệu (import data).")
    catalog = _group(group, "catalog", "Mục lục (catalogue maintenance).")

    @export.command("marc")
    @click.option("--out", "-o", type=click.Path(dir_okay=False, path_type=Path), default=None,
                  help="Tệp đầu ra (output file; default catalog-marc.xml, or catalog-marc.mrc for --format mrc).")
    @click.option("--format", "fmt", type=click.Choice(["xml", "mrc"]), default=None,
                  help="xml: MARCXML; mrc: ISO 2709 (default: from the --out suffix, else xml).")
    @click.option("--all", "include_all", is_flag=True,
                  help="Cả sách nháp và đã rút (include drafts and withdrawn; never deleted).")
    @click.option("--library", "library_code", default=None, help="Chỉ một thư viện (only this library code).")
    @click.option("--base-url", default=None,
                  help="Địa chỉ công khai cho liên kết 856 (public base URL; default: PUBLIC_BASE_URL).")
    @click.option("--quiet", "-q", is_flag=True, help="Không hiện tiến độ (no progress bar).")
    def export_marc(out: Path | None, fmt: str | None, include_all: bool, library_code: str | None,
                    base_url: str | None, quiet: bool) -> None:
        """Xuất mục lục ra MARC 21: MARCXML hoặc ISO 2709 (bulk export for Koha, iLib, Libol)."""
        # imported when the command runs: `sachnoi` starts without loading the whole app (~0.5 s, not ~6 s)
        from sqlalchemy import select
        from tqdm import tqdm

        from catalog import marc
        from catalog.models import Library
        fmt = fmt or ("mrc" if out is not None and out.suffix.lower() in (".mrc", ".iso", ".iso2709") else "xml")
        out = out or Path(f"catalog-marc.{fmt}")
        settings, sessions = _sessions()
        base = (base_url or settings.get("PUBLIC_BASE_URL") or "").strip()
        if not base.lower().startswith(("https://", "http://")):
            raise click.UsageError("Cần địa chỉ công khai để ghi liên kết 856: đặt PUBLIC_BASE_URL (hoặc "
                                   "SACHNOI_PUBLIC_BASE_URL) hay dùng --base-url https://… "
                                   "(an absolute public base URL is required for the 856 links)")
        with sessions() as session:
            library_id = None
            if library_code:
                lib = session.scalar(select(Library).where(Library.code == library_code))
                if lib is None:
                    raise click.ClickException(f"Không có thư viện {library_code} (no such library)")
                library_id = lib.id
            total = marc.count_exportable_books(session, library_id=library_id, include_unpublished=include_all)
            rows = marc.exportable_books(session, library_id=library_id, include_unpublished=include_all)
            with tqdm(total=total, disable=quiet, unit="bản ghi", desc="MARC") as bar:
                count = marc.write_collection(rows, out, base, progress=bar.update,
                                              fmt="xml" if fmt == "xml" else "iso2709")
        if not quiet:
            click.echo(f"Đã xuất {count} bản ghi MARC vào {out} ({count} records exported)")

    @importer.command("marc")
    @click.argument("source", type=click.Path(exists=True, dir_okay=False, path_type=Path))
    @click.option("--library", "library_code", default=None,
                  help="Mã thư viện của sách mới (library code; default: DEFAULT_LIBRARY).")
    @click.option("--link", "link_to", type=int, default=None,
                  help="Gắn bản ghi sách in vào sách nói số này (link the print record to this book id).")
    @click.option("--quiet", "-q", is_flag=True)
    def import_marc(source: Path, library_code: str | None, link_to: int | None, quiet: bool) -> None:
        """Nhập bản ghi sách in MARCXML (import print records; creates drafts or links by ISBN)."""
        # imported when the command runs: `sachnoi` starts without loading the whole app (~0.5 s, not ~6 s)
        from catalog.errors import CatalogError
        from catalog.marc_import import import_marcxml
        settings, sessions = _sessions()
        with sessions() as session:
            try:
                result = import_marcxml(session, source, library=library_code or settings["DEFAULT_LIBRARY"],
                                        link_to=link_to)
                session.commit()
            except CatalogError as exc:
                session.rollback()
                raise click.ClickException(cli_text(exc)) from None
        if not quiet:
            click.echo(f"Tạo mới {len(result.created)}, liên kết {len(result.linked)} "
                       f"({len(result.created)} created, {len(result.linked)} linked)")

    @catalog.command("reindex")
    @click.option("--quiet", "-q", is_flag=True)
    def reindex(quiet: bool) -> None:
        """Dựng lại chỉ mục tìm kiếm (rebuild the search index)."""
        # imported when the command runs: `sachnoi` starts without loading the whole app (~0.5 s, not ~6 s)
        from catalog.search import rebuild_index
        _settings, sessions = _sessions()
        with sessions() as session:
            count = rebuild_index(session)
            session.commit()
        if not quiet:
            click.echo(f"Đã lập chỉ mục {count} sách ({count} books indexed)")
