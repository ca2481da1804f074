"""`sachnoi user set-password|disable|enable|list` (issue 16.1): account care from the command line."""
from __future__ import annotations

import re

import pytest
from click.testing import CliRunner
from sqlalchemy import select

from catalog.accounts import authenticate
from catalog.models import User
from web.cli import main


@pytest.fixture
def cli(tmp_path, monkeypatch):
    """run(*args, password=None) -> click Result, against a fresh instance with two accounts."""
    monkeypatch.setenv("SACHNOI_HOME", str(tmp_path / "instance"))
    monkeypatch.setenv("SACHNOI_SECRET_KEY", "k" * 40)
    monkeypatch.delenv("SACHNOI_PASSWORD", raising=False)

    def run(*args, password=None):
        env = {"SACHNOI_PASSWORD": password} if password else {}
        return CliRunner().invoke(main, ["user", *args], env=env, catch_exceptions=False)

    assert run("create", "bandoc", password="mat-khau-ban-doc").exit_code == 0
    assert run("create", "thuthu", "--role", "librarian", password="mat-khau-thu-thu").exit_code == 0
    return run


def _row(username: str) -> User:
    from web.runtime import make_context
    with make_context().sessions() as s:
        return s.scalar(select(User).where(User.username == username))


def _can_login(username: str, password: str) -> bool:
    from web.runtime import make_context
    with make_context().sessions() as s:
        return authenticate(s, username, password) is not None


def test_set_password_and_one_time_password(cli):
    """A forgotten admin password is reset from the server; sessions end (session_version moves)."""
    version = _row("bandoc").session_version
    result = cli("set-password", "bandoc", password="doc-sach-hay-lam")
    assert result.exit_code == 0, result.output
    assert _can_login("bandoc", "doc-sach-hay-lam") and _row("bandoc").session_version == version + 1
    result = cli("set-password", "BANDOC", "--one-time")
    password = re.search(r"([a-z2-9]{4}-[a-z2-9]{4}-[a-z2-9]{4})", result.output).group(1)
    assert _can_login("bandoc", password) and _row("bandoc").must_change_password


def test_set_password_refuses_common_ones_and_unknown_users(cli):
    result = cli("set-password", "bandoc", password="password123")
    assert result.exit_code == 1 and "phổ biến" in result.output
    assert _can_login("bandoc", "mat-khau-ban-doc")
    result = cli("set-password", "khong-co-ai", password="doc-sach-hay-lam")
    assert result.exit_code == 1 and "Không có tài khoản" in result.output


def test_disable_enable_and_list(cli):
    version = _row("bandoc").session_version
    assert cli("disable", "bandoc").exit_code == 0
    assert not _can_login("bandoc", "mat-khau-ban-doc") and _row("bandoc").session_version == version + 1
    listing = cli("list").output
    assert "bandoc\tBạn đọc\tTHV\tđã khoá" in listing and "thuthu\tThủ thư\tTHV\thoạt động" in listing
    assert cli("enable", "bandoc").exit_code == 0
    assert _can_login("bandoc", "mat-khau-ban-doc")
    only = cli("list", "--role", "librarian").output
    assert "thuthu" in only and "bandoc" not in only
    assert cli("list", "--library", "NOWHERE").exit_code == 1
