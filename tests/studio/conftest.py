"""Fixtures for studio tests: logged-in staff."""
from __future__ import annotations

import pytest

@pytest.fixture
def staff(app):
    """Users: 'phongthu' (studio) and 'bandoc' (reader); returns {username: id}."""
    from catalog.accounts import create_user, get_or_create_library
    ids = {}
    with app.extensions["sachnoi"].sessions.begin() as session:
        library = get_or_create_library(session, "THV", "Thư viện tỉnh")
        for name, role in (("phongthu", "studio"), ("phongthu2", "studio"), ("bandoc", "reader")):
            ids[name] = create_user(session, name, "mat-khau-" + name, role=role, library=library).id
    return ids


