"""OAI-PMH response time on a large catalogue: the datestamp is computed per record in SQL
(catalog.datestamps: latest of the book row, its going-live time, its library and province, its series
and its newest rendition), so a page costs a pass over the catalogue rather than an index range.

    .venv/bin/python benchmarks/bench_oai.py [--books 5000] [--database-url URL]

Seeds a fresh database (SQLite in a temporary folder unless a URL is given; give PostgreSQL an empty
schema, e.g. `postgresql://postgres@127.0.0.1:5432/test?options=-csearch_path%3Dbench`), then prints the
median of 5 calls of `catalog.oai.respond` for three requests.
"""
from __future__ import annotations

import argparse
import datetime as dt
import statistics
import tempfile
import time

from sqlalchemy import insert

from catalog import migrate, oai
from catalog.db import make_engine, make_sessionmaker
from catalog.models import Book, Library, Rendition, utcnow


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--books", type=int, default=5000)
    parser.add_argument("--database-url", default=f"sqlite:///{tempfile.mkdtemp()}/bench.db")
    args = parser.parse_args()
    migrate.upgrade(args.database_url)
    engine = make_engine(args.database_url)
    sessions = make_sessionmaker(engine)
    now = utcnow()
    with sessions() as s:
        s.add_all([Library(code="THV", name="Tỉnh"), Library(code="QP", name="Huyện", kind="district")])
        s.flush()
        s.execute(insert(Book), [dict(uuid=f"bench-{i}", library_id=1 + i % 2, title=f"Sách {i}", state="published",
                                      published_at=now, updated_at=now - dt.timedelta(minutes=i))
                                 for i in range(args.books)])
        s.execute(insert(Rendition), [dict(book_id=i + 1, kind="mp3", key="k", codec="mp3",
                                           created_at=now - dt.timedelta(days=30)) for i in range(args.books)])
        s.commit()
    repo = oai.Repository(base_url="https://bench.example/oai", repository_id="bench.example", page_size=100)
    half = (now - dt.timedelta(minutes=args.books // 2)).strftime("%Y-%m-%dT%H:%M:%SZ")
    requests = {"ListIdentifiers, first page": [("verb", "ListIdentifiers"), ("metadataPrefix", "oai_dc")],
                "ListIdentifiers from= (half the catalogue)": [("verb", "ListIdentifiers"),
                                                               ("metadataPrefix", "oai_dc"), ("from", half)],
                "ListRecords marcxml, first page": [("verb", "ListRecords"), ("metadataPrefix", "marcxml")]}
    with sessions() as s:
        for label, pairs in requests.items():
            times = []
            for _ in range(5):
                start = time.perf_counter()
                oai.respond(s, pairs, repo)
                times.append(time.perf_counter() - start)
            print(f"{label}: median {statistics.median(times) * 1000:.0f} ms ({args.books} books, "
                  f"{engine.dialect.name})")
    engine.dispose()


if __name__ == "__main__":
    main()
