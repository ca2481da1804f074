"""Vietnamese first, English available (Flask-Babel).

Templates are written in Vietnamese; `web/translations/en/.../messages.po` holds the English.
The .po file is compiled to .mo inside the instance folder at start-up when it is newer, so no
build output is committed and `pip install` alone gives working translations.
"""
from __future__ import annotations

from pathlib import Path

from babel.messages.mofile import write_mo
from babel.messages.pofile import read_po
from flask import Flask, request, session
from flask_babel import Babel, get_locale
from flask_login import current_user

SOURCE = Path(__file__).parent / "translations"


def compile_translations(target: Path) -> Path:
    for po_path in SOURCE.glob("*/LC_MESSAGES/messages.po"):
        lang = po_path.parent.parent.name
        mo_path = target / lang / "LC_MESSAGES" / "messages.mo"
        if mo_path.exists() and mo_path.stat().st_mtime >= po_path.stat().st_mtime:
            continue
        mo_path.parent.mkdir(parents=True, exist_ok=True)
        with open(po_path, "rb") as fh:
            catalog = read_po(fh, locale=lang)
        tmp = mo_path.with_suffix(".tmp")
        with open(tmp, "wb") as out:
            write_mo(out, catalog)
        tmp.replace(mo_path)
    return target


def select_locale() -> str:
    languages = ("vi", "en")
    asked = request.args.get("lang")
    if asked in languages:
        session["lang"] = asked
        return asked
    if session.get("lang") in languages:
        return session["lang"]
    if getattr(current_user, "is_authenticated", False) and current_user.locale in languages:
        return current_user.locale
    return "vi"


def init_i18n(app: Flask) -> None:
    target = compile_translations(Path(app.config["HOME"]) / "translations")
    app.config["BABEL_TRANSLATION_DIRECTORIES"] = str(target)
    Babel(app, locale_selector=select_locale)
    app.jinja_env.globals["get_locale"] = get_locale
