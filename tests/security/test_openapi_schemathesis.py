"""``schemathesis`` against a live gateway (fake providers on loopback) from its own
``/openapi.json``: a bounded number of examples per operation, then the stateful run over the
spec's links (create a key, then read, change, rotate and revoke it). No 5xx, every response
matches the spec (status, content type, body), every error in the documented envelope.

Marked ``schemathesis`` (``pytest -m schemathesis`` runs only this); the default run includes it."""

from __future__ import annotations

import hypothesis
import pytest
import schemathesis
from hypothesis import HealthCheck, Phase

from faregate.catalogue import apply_catalogue
from faregate.config import load_config
from faregate.server.openapi import spec_for
from helpers import GATEWAY_KEY, PROTOCOLS, InProcessServer, fake_config

MASTER = "fg-master-schemathesis-0000"
EXAMPLES = 15
pytestmark = pytest.mark.schemathesis
SETTINGS = hypothesis.settings(
    max_examples=EXAMPLES,
    deadline=None,
    derandomize=True,  # the same examples on every run: a failure here reproduces
    database=None,  # nothing written into the working tree
    suppress_health_check=list(HealthCheck),
    phases=[Phase.explicit, Phase.generate],
)


def _auth(path: str) -> dict[str, str]:
    admin = path.startswith(("/admin", "/v1/analytics", "/v1/health/"))
    return {"Authorization": f"Bearer {MASTER if admin else GATEWAY_KEY}"}


def _live_server(server_loop, upstreams, tmp_path_factory) -> InProcessServer:
    db = tmp_path_factory.mktemp("schemathesis") / "log.db"
    cfg = fake_config(upstreams, database_url=f"sqlite:///{db}", master_key=MASTER)
    return InProcessServer(server_loop, cfg).start()


@pytest.fixture(scope="module")
def live(server_loop, _session_upstreams, tmp_path_factory):
    srv = _live_server(server_loop, _session_upstreams, tmp_path_factory)
    yield srv
    srv.stop()


@pytest.fixture(scope="module")
def live_admin(server_loop, _session_upstreams, tmp_path_factory):
    """The admin operations' own gateway: the models and providers they add at run time (with
    made-up base URLs) must not become the fronts' models, whose calls would then 502."""
    srv = _live_server(server_loop, _session_upstreams, tmp_path_factory)
    yield srv
    srv.stop()


# The spec the gateway serves (test_openapi checks /openapi.json is exactly this), loaded at
# collection so each operation is its own test item.
class _Placeholder:
    model_base_url = "http://127.0.0.1:9"  # the spec depends on the models, not on where they are


# As the gateway compiles it: models completed from the catalogue (their output limits bound max_tokens).
SPEC = spec_for(apply_catalogue(load_config(env={}, overrides=fake_config({p: _Placeholder() for p in PROTOCOLS}))))
schema = schemathesis.openapi.from_dict(SPEC)


# aiohttp answers an undeclared method with 405 and no Allow header (the app's error
# middleware builds that answer); /admin/usage wants exactly one of three query parameters and
# the analytics summary a `since` before its `until`, which OpenAPI cannot say, so a
# schema-valid request may be refused there.
# Negative cases are still sent and checked (no 5xx, documented envelope and schema), but not
# required to be refused: the gateway ignores unknown query parameters, and the auth header this
# test adds to every case would turn schemathesis' "no auth" cases into authenticated ones. The
# bodies' validators and schemas are compared directly in test_openapi_agreement.py.
EXCLUDED = [schemathesis.checks.unsupported_method, schemathesis.checks.negative_data_rejection]
# A runtime model or provider entry must also make the whole configuration valid with the config
# file's models (fallbacks and credentials that exist, no name a config model has): OpenAPI cannot
# say that either, so a schema-valid entry may be refused there (400 or 409, in the envelope).
NOT_EXACT = {
    "/admin/usage",
    "/v1/analytics/summary",
    "/admin/models",
    "/admin/models/{name}",
    "/admin/providers",
    "/admin/providers/{name}",
    # A channel's fields depend on its type (an email channel needs smtp_host, sender and to) and a
    # rule may name only channels that exist: cross-field and cross-entity rules again.
    "/admin/alerts/channels",
    "/admin/alerts/rules",
    # An uploaded file must be JSONL of valid batch lines (a file field's bytes have no schema),
    # and a batch must name a file that exists: content and cross-entity rules.
    "/v1/files",
    "/v1/batches",
}


def _excluded(path: str) -> list:
    return EXCLUDED + ([schemathesis.checks.positive_data_acceptance] if path in NOT_EXACT else [])


@schema.parametrize()
@SETTINGS
def test_every_operation_conforms(case, live, live_admin):
    srv = live_admin if case.path.startswith("/admin") else live
    case.call_and_validate(base_url=srv.url, headers=_auth(case.path), excluded_checks=_excluded(case.path))


def test_stateful_links_conform(live):
    base = schema.as_state_machine()

    class Machine(base):  # type: ignore[misc, valid-type]
        def get_call_kwargs(self, case):
            return {"base_url": live.url, "headers": _auth(case.path)}

        def validate_response(self, response, case, additional_checks=None, **kwargs):
            case.validate_response(
                response,
                excluded_checks=_excluded(case.path),
                additional_checks=additional_checks,
                transport_kwargs=kwargs,
            )

    Machine.run(settings=hypothesis.settings(SETTINGS, max_examples=10, stateful_step_count=6))
