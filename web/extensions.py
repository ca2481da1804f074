"""Per-app services kept on `app.extensions["sachnoi"]`: engine, session factory, media store.

Views call `db_session()` for the request's SQLAlchemy session (closed at teardown) and
`media_store()` for the store. No global state outside the app object.
"""
from __future__ import annotations

from dataclasses import dataclass

from flask import Flask, current_app, g, request
from sqlalchemy.engine import Engine
from sqlalchemy.orm import Session, sessionmaker

from catalog.db import make_engine, make_sessionmaker, read_only_session
from recordings.store import MediaStore, open_store


@dataclass
class Services:
    engine: Engine
    sessions: sessionmaker
    store: MediaStore


def init_services(app: Flask) -> Services:
    engine = make_engine(app.config["DATABASE_URL"])
    services = Services(engine=engine, sessions=make_sessionmaker(engine),
                        store=store_from_settings(app.config))
    app.extensions["sachnoi"] = services

    @app.teardown_appcontext
    def _close_session(exc):
        session = g.pop("db_session", None)
        if session is not None:
            if exc is not None:
                session.rollback()
            session.close()

    return services


def store_from_settings(settings) -> MediaStore:
    """The media store the settings choose: the local folder, or the object store of `MEDIA_URL`."""
    return open_store(settings["MEDIA_ROOT"], settings["MEDIA_URL"], endpoint_url=settings["S3_ENDPOINT_URL"],
                      region=settings["S3_REGION"], cache_dir=settings["MEDIA_CACHE_DIR"])


def services() -> Services:
    return current_app.extensions["sachnoi"]


def db_session() -> Session:
    """The request's session (one per app context)."""
    if "db_session" not in g:
        # Safe methods never change state (a rule the security tests hold every route to), so
        # they read without taking SQLite's write lock; other methods write with IMMEDIATE.
        if request and request.method in ("GET", "HEAD", "OPTIONS"):
            g.db_session = read_only_session(services().sessions)
        else:
            g.db_session = services().sessions()
    return g.db_session


def media_store() -> MediaStore:
    return services().store


def public_base() -> str:
    """The site's absolute address for links other systems keep (feeds, manifests, OAI, MARC 856):
    `PUBLIC_BASE_URL`, else this request's own (its Host was checked against ALLOWED_HOSTS first)."""
    return (current_app.config.get("PUBLIC_BASE_URL") or request.url_root).rstrip("/")
