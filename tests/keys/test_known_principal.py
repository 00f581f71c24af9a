"""The hot path's shortcut: a config key's principal without awaiting; everything else goes to
``authenticate``, which still decides (store keys, unknown keys, an open gateway)."""

from __future__ import annotations

import pytest

from faregate.config import load_config
from faregate.core.errors import AuthenticationFailed
from faregate.pipeline.auth_step import KeyAuth

KEY = "fg-config-key-0123456789abcdef"


def _auth(tmp_path, keys) -> KeyAuth:
    config = load_config(
        env={}, overrides={"models": [{"name": "m1"}], "keys": keys, "database_url": f"sqlite:///{tmp_path / 'k.db'}"}
    )
    return KeyAuth(config)


async def test_config_key_known_without_awaiting_and_same_as_authenticate(tmp_path):
    auth = _auth(tmp_path, [{"key": KEY, "name": "svc", "team": "t1", "models": ["m1"]}])
    await auth.start()
    fast = auth.known(KEY)
    slow = await auth.authenticate(KEY)
    assert fast is not None and fast == slow
    assert fast.team == "t1" and fast.models == ("m1",) and fast.key_prefix == KEY[:7]
    assert auth.limits_for(fast) == auth.limits_for(slow)  # the limits step sees the key either way
    await auth.close()


@pytest.mark.parametrize("credential", [None, "", "fg-unknown-key-0123456789abcdef", KEY + "x", KEY[:-1]])
async def test_anything_else_is_left_to_authenticate(tmp_path, credential):
    auth = _auth(tmp_path, [{"key": KEY}])
    await auth.start()
    assert auth.known(credential) is None
    with pytest.raises(AuthenticationFailed):
        await auth.authenticate(credential)
    await auth.close()


async def test_open_gateway_is_left_to_authenticate(tmp_path):
    auth = _auth(tmp_path, [])
    await auth.start()
    assert auth.open and auth.known(KEY) is None and await auth.authenticate(KEY) is None
    await auth.close()
