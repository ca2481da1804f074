"""Fixtures for the security tests (the world itself is built in security_world.py)."""
from __future__ import annotations

import pytest

from security_world import World, build_world, copy_world


@pytest.fixture(scope="session")
def world_template(tmp_path_factory) -> World:
    return build_world(tmp_path_factory.mktemp("security-world") / "instance")


@pytest.fixture
def world(world_template, tmp_path) -> World:
    return copy_world(world_template, tmp_path / "instance")
