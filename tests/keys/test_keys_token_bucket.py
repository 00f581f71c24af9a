"""The token bucket through a real server: per key (admin API), team and model (config), the
same 429 and ``x-ratelimit-*`` headers as the windows, a clear 400 for half a bucket, the CLI."""

from __future__ import annotations

import orjson

from keys_harness import new_key


async def test_key_bucket_burst_then_429_with_headers(make_app):
    app = await make_app()
    key, kid = await new_key(app, limits={"burst": 3, "refill_per_s": 0.01})
    ok = [await app.chat(key) for _ in range(3)]
    assert [s for s, _, _ in ok] == [200, 200, 200]
    assert [h["x-ratelimit-remaining-requests"] for _, h, _ in ok] == ["2", "1", "0"]
    assert ok[0][1]["x-ratelimit-limit-requests"] == "3"
    status, headers, body = await app.chat(key)
    assert status == 429
    # One request back at 0.01/s: 100 s.
    assert 99 <= int(headers["retry-after"]) <= 101
    assert headers["x-ratelimit-remaining-requests"] == "0"
    assert headers["x-faregate-limit"] == "key:bucket"
    err = orjson.loads(body)["error"]
    assert err["type"] == "rate_limit_error" and err["code"] == "rate_limit_exceeded"
    assert "token bucket (burst 3, 0.01/s) of key 't'" in err["message"]
    assert key not in body.decode()
    st, data = await app.admin("GET", f"/admin/usage?key={kid}")
    bucket = next(c for c in orjson.loads(data)["counters"] if c["limit"] == "bucket")
    assert bucket["max"] == 3 and bucket["used"] == 3


async def test_bucket_beside_a_window_tightest_in_headers(make_app):
    app = await make_app()
    key, _ = await new_key(app, limits={"rpm": 100, "burst": 2, "refill_per_s": 0.01})
    s, h, _ = await app.chat(key)
    assert s == 200 and h["x-ratelimit-limit-requests"] == "2" and h["x-ratelimit-remaining-requests"] == "1"
    assert (await app.chat(key))[0] == 200
    assert (await app.chat(key))[0] == 429


async def test_team_and_model_buckets(make_app):
    app = await make_app(overrides={"limits": {"models": {"m2": {"burst": 1, "refill_per_s": 0.01}}}})
    assert (await app.admin("PUT", "/admin/teams/blue", json={"limits": {"burst": 2, "refill_per_s": 0.01}}))[0] == 200
    k1, _ = await new_key(app, team="blue")
    k2, _ = await new_key(app, team="blue")
    assert (await app.chat(k1))[0] == 200 and (await app.chat(k2))[0] == 200
    status, _, body = await app.chat(k1)
    assert status == 429 and b"team 'blue'" in body
    k3, _ = await new_key(app)
    assert (await app.chat(k3, model="m2"))[0] == 200
    status, _, body = await app.chat(k3, model="m2")
    assert status == 429 and b"model 'm2'" in body
    assert (await app.chat(k3, model="m1"))[0] == 200


async def test_half_a_bucket_takes_its_other_half_by_default(make_app):
    app = await make_app()
    k1, kid1 = await new_key(app, limits={"burst": 2})  # refills over a minute: 1/30 s
    assert [(await app.chat(k1))[0] for _ in range(3)] == [200, 200, 429]
    status, headers, _ = await app.chat(k1)
    assert status == 429 and 29 <= int(headers["retry-after"]) <= 31
    k2, _ = await new_key(app, limits={"refill_per_s": 0.01})  # bursts one second of it: 1
    assert [(await app.chat(k2))[0] for _ in range(2)] == [200, 429]
    status, data = await app.admin("POST", "/admin/keys", json={"name": "x", "limits": {"burst": 2, "refill_per_s": 0}})
    assert status == 400 and b"refill_per_s" in data
    status, data = await app.admin("POST", "/admin/keys", json={"name": "x", "limits": {"burst": 0}})
    assert status == 400 and b"burst" in data


def test_bucket_of_defaults():
    from faregate.pipeline.limits_step import bucket_of

    assert bucket_of({"burst": 60}) == (60, 1.0)
    assert bucket_of({"refill_per_s": 2.5}) == (3, 2.5)
    assert bucket_of({"burst": 4, "refill_per_s": 0.5}) == (4, 0.5)


def test_cli_sets_a_bucket(tmp_path):
    from click.testing import CliRunner

    from faregate.keys.commands import keys_group

    url = f"sqlite:///{tmp_path / 'cli.db'}"
    args = ["create", "--name", "b", "--burst", "10", "--refill-per-s", "2.5", "--database-url", url]
    r = CliRunner().invoke(keys_group, args)
    assert r.exit_code == 0, r.output
    r = CliRunner().invoke(keys_group, ["list", "--json", "--database-url", url])
    assert '"burst":10' in r.output and '"refill_per_s":2.5' in r.output
    r = CliRunner().invoke(keys_group, ["create", "--name", "c", "--refill-per-s", "0", "--database-url", url])
    assert r.exit_code != 0 and "refill-per-s" in r.output
