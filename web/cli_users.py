"""`sachnoi user set-password|disable|enable|list`: account care from the server's command line.

The operator at the command line manages every account (catalog.accounts.OPERATOR)."""
from __future__ import annotations

import os
import sys

import click

from catalog.states import Role
from web.runtime import make_context
from web.labels import cli_text


def _password_from_env_or_prompt() -> str:
    password = os.environ.get("SACHNOI_PASSWORD")
    if password:
        return password
    if not sys.stdin.isatty():
        raise click.ClickException("Cần mật khẩu: đặt SACHNOI_PASSWORD hoặc dùng --one-time")
    return click.prompt("Mật khẩu mới (new password)", hide_input=True, confirmation_prompt=True)


def _find(session, username: str):
    # imported when the command runs: `sachnoi` starts without loading the whole app (~0.5 s, not ~6 s)
    from sqlalchemy import select

    from catalog.models import User
    from catalog.text import nfc
    user = session.scalar(select(User).where(User.username == nfc(username).lower()))
    if user is None:
        raise click.ClickException(f"Không có tài khoản {username}")
    return user


def register_user_commands(user: click.Group) -> None:
    """Add the commands to the `sachnoi user` group."""

    @user.command("set-password")
    @click.argument("username")
    @click.option("--one-time", is_flag=True,
                  help="Tạo mật khẩu dùng một lần, phải đổi khi đăng nhập (generate a one-time password).")
    def set_password_cmd(username: str, one_time: bool) -> None:
        """Đặt mật khẩu (SACHNOI_PASSWORD hoặc hỏi); mọi phiên đăng nhập cũ kết thúc."""
        # imported when the command runs: `sachnoi` starts without loading the whole app (~0.5 s, not ~6 s)
        from catalog.accounts import OPERATOR, AccountError, reset_by_staff, set_password
        password = None if one_time else _password_from_env_or_prompt()
        ctx = make_context()
        try:
            with ctx.sessions.begin() as session:
                row = _find(session, username)
                if one_time:
                    password = reset_by_staff(OPERATOR, row)
                else:
                    set_password(row, password)
        except AccountError as exc:
            raise click.ClickException(cli_text(exc)) from None
        if one_time:
            click.echo(f"Mật khẩu dùng một lần của {row.username}: {password} (phải đổi khi đăng nhập)")
        else:
            click.echo(f"Đã đặt mật khẩu mới cho {row.username}; các phiên đăng nhập cũ đã kết thúc")

    def _set_active(username: str, active: bool) -> None:
        # imported when the command runs: `sachnoi` starts without loading the whole app (~0.5 s, not ~6 s)
        from catalog.accounts import OPERATOR, set_active
        with make_context().sessions.begin() as session:
            row = _find(session, username)
            set_active(OPERATOR, row, active)
        click.echo(f"Đã mở khoá {row.username}" if active else f"Đã khoá {row.username}; mọi phiên đã kết thúc")

    @user.command("disable")
    @click.argument("username")
    def disable_cmd(username: str) -> None:
        """Khoá tài khoản (kết thúc mọi phiên đăng nhập)."""
        _set_active(username, False)

    @user.command("enable")
    @click.argument("username")
    def enable_cmd(username: str) -> None:
        """Mở khoá (hoặc duyệt) tài khoản."""
        _set_active(username, True)

    @user.command("list")
    @click.option("--role", type=click.Choice([r.value for r in Role]), default=None)
    @click.option("--library", "library_code", default=None, help="Mã thư viện (library code).")
    @click.option("--search", "query", default="", help="Một phần tên, số thẻ hoặc e-mail.")
    def list_cmd(role: str | None, library_code: str | None, query: str) -> None:
        """Liệt kê tài khoản: tên đăng nhập, vai trò, thư viện, trạng thái (tab-separated)."""
        # imported when the command runs: `sachnoi` starts without loading the whole app (~0.5 s, not ~6 s)
        from sqlalchemy import select

        from catalog.accounts import OPERATOR, ROLE_LABELS, search_users
        from catalog.models import Library
        with make_context().sessions() as session:
            codes = dict(session.execute(select(Library.id, Library.code)).all())
            library_id = next((i for i, c in codes.items() if c == (library_code or "").upper()), None)
            if library_code and library_id is None:
                raise click.ClickException(f"Không có thư viện mã {library_code}")
            number, shown = 1, 0
            while True:
                page = search_users(session, OPERATOR, query=query, role=role or "", library_id=library_id,
                                    page=number, per_page=500)
                for u in page.users:
                    state = ("chờ duyệt" if u.pending_approval else "hoạt động" if u.is_active else "đã khoá")
                    if u.must_change_password:
                        state += ", phải đổi mật khẩu"
                    click.echo(f"{u.username}\t{ROLE_LABELS[u.role]}\t{codes.get(u.library_id, '')}\t{state}")
                shown += len(page.users)
                if number >= page.pages:
                    break
                number += 1
        click.echo(f"{shown} tài khoản", err=True)
