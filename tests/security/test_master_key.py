"""The one master-key check: digests compared in constant time, so neither a wrong key of the
same length nor one of another length is told apart (same refusal, same compare)."""

from __future__ import annotations

import hmac

import pytest
from aiohttp.test_utils import make_mocked_request

from faregate.config import GatewayConfig
from faregate.core.errors import AuthenticationFailed
from faregate.pipeline.gateway import Gateway
from faregate.server import master_key
from faregate.server.health_routes import HEALTH_REFUSED, HEALTH_UNSET
from faregate.server.master_key import ADMIN_REFUSED, ADMIN_UNSET, is_master_key, require_admin, require_master_key

MASTER = "fg-master-0123456789"


def gateway(master: str | None) -> Gateway:
    cfg = {"models": [], "learning": {"enabled": False}}
    if master is not None:
        cfg["master_key"] = master
    return Gateway(GatewayConfig.model_validate(cfg))


def request(key: str | None):
    headers = {"Authorization": f"Bearer {key}"} if key is not None else {}
    return make_mocked_request("GET", "/admin/keys", headers=headers)


@pytest.fixture
def compared(monkeypatch):
    """Every (len(a), len(b)) hmac.compare_digest saw in the check."""
    seen: list[tuple[int, int]] = []
    real = hmac.compare_digest

    def spy(a, b):
        seen.append((len(a), len(b)))
        return real(a, b)

    monkeypatch.setattr(master_key.hmac, "compare_digest", spy)
    return seen


def test_the_master_key_passes(compared):
    gw = gateway(MASTER)
    require_admin(gw, request(MASTER))
    assert compared == [(32, 32)]


@pytest.mark.parametrize(
    "wrong",
    [
        "fg-master-0123456780",  # same length, last character differs
        "x" * len(MASTER),  # same length
        "fg-master",  # shorter
        MASTER + "-and-more",  # longer
        "",
        None,
    ],
)
def test_wrong_keys_are_refused_alike_through_the_digest_compare(compared, wrong):
    gw = gateway(MASTER)
    with pytest.raises(AuthenticationFailed) as exc:
        require_admin(gw, request(wrong))
    assert exc.value.message == ADMIN_REFUSED and exc.value.status == 401
    # The compare ran on digests: equal lengths whatever the length of the key sent.
    assert compared == [(32, 32)]


def test_same_and_different_length_give_the_same_message_on_each_route_group():
    gw = gateway(MASTER)
    for check, refused in (
        (require_admin, ADMIN_REFUSED),
        (lambda g, r: require_master_key(g, r, unset=HEALTH_UNSET, refused=HEALTH_REFUSED), HEALTH_REFUSED),
    ):
        messages = set()
        for wrong in ("y" * len(MASTER), "short", MASTER * 3):
            with pytest.raises(AuthenticationFailed) as exc:
                check(gw, request(wrong))
            messages.add(exc.value.message)
        assert messages == {refused}


def test_without_a_master_key_every_credential_is_refused():
    gw = gateway(None)
    for key in (None, "", "anything", MASTER):
        with pytest.raises(AuthenticationFailed) as exc:
            require_admin(gw, request(key))
        assert exc.value.message == ADMIN_UNSET
        with pytest.raises(AuthenticationFailed) as exc:
            require_master_key(gw, request(key), unset=HEALTH_UNSET, refused=HEALTH_REFUSED)
        assert exc.value.message == HEALTH_UNSET


def test_is_master_key():
    assert is_master_key(MASTER, MASTER)
    assert not is_master_key(MASTER[:-1], MASTER)
    assert not is_master_key("", MASTER) and not is_master_key(None, MASTER)
    assert not is_master_key("", "") and not is_master_key("k", None)
