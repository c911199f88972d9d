"""schemathesis against the service's own OpenAPI schema, over real HTTP (fake embedder).

Every operation gets generated inputs, valid and invalid: none may get a 5xx, and every response
must match the schema (status code documented, body shaped as declared). Bounded: a fixed number
of examples per operation, so CI time stays predictable.
"""

from __future__ import annotations

import shutil
import threading

import pytest
import schemathesis
import uvicorn
from hypothesis import HealthCheck, settings
from schemathesis.specs.openapi.checks import positive_data_acceptance

from eval.live import free_port, wait_ready
from service.app import create_app
from service.settings import Settings
from tests.fakes import FakeEmbedder, FakeReader

ADMIN = "admin-key-0123456789abcdef"
EXAMPLES = 25


# The schema is the app's own (no server needed to read it); the calls go to a live server.
schema = schemathesis.openapi.from_dict(create_app(Settings()).openapi())


@pytest.fixture(scope="module")
def base_url(tmp_path_factory, _fake_index_once):
    index = tmp_path_factory.mktemp("fuzz") / "index"
    shutil.copytree(_fake_index_once, index)
    service_settings = Settings(
        home=index.parent, index_dir=index, admin_key=ADMIN, rate_limit_per_minute=0, reload_interval_s=0
    )
    port = free_port()
    # Reading on, with the fake reader: the read path's responses are fuzzed too.
    app = create_app(
        service_settings, embedder_factory=lambda s: FakeEmbedder(), reader_factory=lambda c: FakeReader(["รางวัล"])
    )
    server = uvicorn.Server(uvicorn.Config(app, host="127.0.0.1", port=port, log_level="warning"))
    thread = threading.Thread(target=server.run, daemon=True)
    thread.start()
    base = f"http://127.0.0.1:{port}"
    wait_ready(base, 30)
    yield base
    server.should_exit = True
    thread.join(10)


@schema.parametrize()
@settings(max_examples=EXAMPLES, deadline=None, suppress_health_check=list(HealthCheck))
def test_no_generated_input_gets_a_server_error_and_responses_match_the_schema(case, base_url):
    # All checks but "schema-valid data is accepted": some inputs the JSON schema cannot rule out
    # are refused by design (a question of spaces or zero-width characters, a file of another
    # type, an id that names no document), each with a 4xx that says why.
    case.call_and_validate(base_url=base_url, headers={"X-API-Key": ADMIN}, excluded_checks=[positive_data_acceptance])
