"""Statistics a reader cannot inflate (issue 14.6): `listened_s` is credited at most as the server's
wall clock between a listener's reports allows.

Attack: statistics inflation by replayed or scripted progress reports. Each report carried
`listened_s` up to 120 and every one was added: 200 reports in 1.3 s added 6.7 h to a 14-second
book. Checked through the API (SQLite) and through `streaming.events.record` with a set clock on
SQLite and PostgreSQL (normal listening, late and early arrivals, bursts, a day boundary).
"""
from __future__ import annotations

import time

import pytest
from sqlalchemy import func, select

from reader_helpers import login
from test_reader_progress import _progress_world

T0 = int(time.time() * 1000) - 60_000
DAY0 = 1_780_000_000.0 - 1_780_000_000.0 % 86400 + 3600  # 01:00 UTC on some day, Unix seconds


def _listened_s(sessions) -> float:
    from catalog.models import ListeningEvent
    with sessions() as s:
        return float(s.scalar(select(func.coalesce(func.sum(ListeningEvent.seconds), 0.0))
                              .where(ListeningEvent.kind == "listen")))


def test_a_burst_of_reports_adds_no_more_than_the_time_it_took(app, client, make_book, people):
    """200 reports as fast as the API takes them, each claiming 120 s: the first report's
    allowance (120 s) plus the wall-clock time of the burst, not 200 × 120 s = 6.7 h."""
    book_id = make_book()
    csrf = login(client, "bandoc")
    started = time.monotonic()
    for seq in range(1, 201):
        body = {"position_s": 1.0, "event_time_ms": T0 + seq, "device_id": "script", "seq": seq, "listened_s": 120}
        assert client.put(f"/api/books/{book_id}/progress", json=body,
                          headers={"X-CSRFToken": csrf}).status_code == 200
    took = time.monotonic() - started
    credited = _listened_s(app.extensions["sachnoi"].sessions)
    assert 120 <= credited <= 120 + took + 0.5, (credited, took)


def _world(url):
    from catalog.models import Book
    sessions, _, book_id = _progress_world(url)
    with sessions() as s:
        library_id = s.get(Book, book_id).library_id
    return sessions, {"book_id": book_id, "library_id": library_id, "listener": "k" * 32, "kind": "listen"}


def _send(sessions, where, claims):
    """claims: [(server time offset s, listened_s)]; returns the seconds credited in all."""
    from streaming import events
    for at, seconds in claims:
        with sessions.begin() as s:
            events.record(s, seconds=seconds, now_s=DAY0 + at, **where)
    return _listened_s(sessions)


def _clock_rules_on(url):
    sessions, where = _world(url)
    # An hour of honest listening, a report every 10 s arriving up to 0.4 s early or late: all counted.
    jitter = [0.0, 0.4, -0.4, 0.2, -0.3, 0.1]
    honest = [(10 * i + jitter[i % len(jitter)], 10.0) for i in range(1, 361)]
    assert _send(sessions, where, honest) == pytest.approx(3600, abs=0.01)
    # Then a script, 10 s later: 200 reports within 1.3 s, each claiming the maximum. Credited:
    # the 10 s since the last report, at most the arrival slack (3 s), and the 1.3 s of the burst.
    burst = [(3610 + 1.3 * i / 199, 120.0) for i in range(200)]
    after_burst = _send(sessions, where, burst)
    assert 3600 + 10 + 1.3 <= after_burst <= 3600 + 10 + 3 + 1.3 + 0.01
    # A pause of an hour, then two reports a second apart, each claiming 120 s: 120 s back at most.
    assert _send(sessions, where, [(7300, 120.0), (7301, 120.0)]) == pytest.approx(after_burst + 121, abs=0.01)
    # Over midnight the next day's row continues from the same clock: no fresh allowance.
    midnight = 86400 - 3600
    _send(sessions, where, [(midnight - 5, 100.0)])
    before = _listened_s(sessions)
    assert before + 10 <= _send(sessions, where, [(midnight + 5, 120.0)]) <= before + 10 + 3 + 0.01
    sessions.kw["bind"].dispose()


def test_clock_rules_on_sqlite(tmp_path):
    _clock_rules_on(f"sqlite:///{tmp_path / 'db.sqlite'}")


def test_clock_rules_on_postgresql(pg_url):
    _clock_rules_on(pg_url)


def test_racing_reports_cannot_both_claim_a_gap_on_postgresql(pg_url):
    """Parallel requests (8 threads, one connection each) on PostgreSQL, where writers do not wait
    for one lock as on SQLite: the credit is computed inside the UPDATE, so the row lock and
    re-check make each gap claimed once."""
    import threading
    from streaming import events
    sessions, where = _world(pg_url)
    started = time.time()
    with sessions.begin() as s:
        events.record(s, seconds=1.0, **where)  # today's row exists: every report below bumps it
    before = _listened_s(sessions)

    def spam():
        for _ in range(25):
            with sessions.begin() as s:
                events.record(s, seconds=120.0, **where)

    threads = [threading.Thread(target=spam) for _ in range(8)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    took = time.time() - started
    assert _listened_s(sessions) - before <= took + events.ARRIVAL_SLACK_S + 0.01
    sessions.kw["bind"].dispose()
