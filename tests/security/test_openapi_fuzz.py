"""schemathesis against docs/openapi.yaml, the description of the player's JSON API (issue 14,
"No 500s"): valid (positive) and schema-violating (negative) paths, queries and bodies generated
from the description, sent to the app as a signed-in reader; any 5xx fails. The hand-written walker
in test_no_server_errors.py covers the rest of the site; this explores each operation's inputs.
(schemathesis's own pytest plugin does not load under this pytest, so its strategies are driven by
hypothesis directly.)"""
from __future__ import annotations

from pathlib import Path

import pytest
import schemathesis
from hypothesis import HealthCheck, given, settings, strategies as st

from security_world import login_as, make_app

SPEC = Path(__file__).resolve().parents[2] / "docs" / "openapi.yaml"
SCHEMA = schemathesis.openapi.from_path(str(SPEC))
OPERATIONS = [result.ok() for result in SCHEMA.get_all_operations()]


@pytest.fixture(scope="module")
def served(tmp_path_factory, world_template):
    from security_world import copy_world
    world = copy_world(world_template, tmp_path_factory.mktemp("openapi") / "instance")
    app = make_app(world, WTF_CSRF_ENABLED=False)
    app.testing = False  # an exception becomes the 500 a client would see
    client = app.test_client()
    login_as(client, world, "reader")
    SCHEMA.app = app
    return {"session": client.get_cookie("session").value}


def test_description_covers_every_json_api_route(served):
    """The description and the app agree on which JSON API routes exist."""
    described = {(op.method.upper(), op.path) for op in OPERATIONS}
    app = SCHEMA.app
    routes = {(method, rule.rule.replace("<int:", "{").replace(">", "}"))
              for rule in app.url_map.iter_rules()
              if rule.endpoint.startswith(("api.", "offline.")) and rule.rule.startswith("/api/")
              for method in rule.methods - {"HEAD", "OPTIONS"}}
    assert routes == described, routes ^ described


@pytest.mark.parametrize("operation", OPERATIONS, ids=lambda op: f"{op.method.upper()} {op.path}")
@pytest.mark.parametrize("mode", list(schemathesis.GenerationMode), ids=lambda m: m.value)
def test_json_api_never_answers_5xx(served, operation, mode):
    """Every operation of the JSON API, with generated input of both kinds."""

    @settings(max_examples=40, deadline=None, suppress_health_check=list(HealthCheck), database=None)
    @given(data=st.data())
    def run(data):
        case = data.draw(operation.as_strategy(generation_mode=mode))
        response = case.call(cookies=served, app=SCHEMA.app)
        assert response.status_code < 500, (case.method, case.formatted_path, case.body, response.status_code)

    run()
