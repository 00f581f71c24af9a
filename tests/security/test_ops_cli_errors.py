"""Errors a new user meets, through the real CLI (a subprocess each): one or two lines saying
what is wrong and what to do, exit status 2, no traceback, and never the contents of a file
that is not a config."""

from __future__ import annotations

import socket
import subprocess
import sys
from pathlib import Path

import pytest

from helpers import REPO, clean_env

SHADOW_LIKE = (
    "root:$6$Qm9vYmFyc2FsdA$VGhpcyBpcyBub3QgYSByZWFsIGhhc2g:19000:0:99999:7:::\n"
    "daemon:*:19000:0:99999:7:::\n"
    "alice:$6$c2FsdHNhbHQ$c2VjcmV0LWhhc2gtb2YtYWxpY2U:19000:0:99999:7:::\n"
)


def run(tmp_path: Path, *args: str, timeout: float = 60) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "faregate", *args],
        cwd=tmp_path,
        env=clean_env(),
        capture_output=True,
        text=True,
        timeout=timeout,
    )


def check(res: subprocess.CompletedProcess[str], *expected: str) -> str:
    err = res.stderr.strip()
    assert res.returncode == 2, (res.returncode, err)
    assert "Traceback" not in err, err
    assert 1 <= len(err.splitlines()) <= 2, err
    for text in expected:
        assert text in err, err
    assert "serving" not in err, err
    return err


def test_port_already_in_use(tmp_path):
    with socket.socket() as taken:
        taken.bind(("127.0.0.1", 0))
        taken.listen()
        port = taken.getsockname()[1]
        check(run(tmp_path, "serve", "--port", str(port)), "already in use", "--port")


@pytest.mark.parametrize("port", ["80000", "-1", "eighty"])
def test_port_out_of_range(tmp_path, port):
    check(run(tmp_path, "serve", "--port", port), "--port", "65535")


def test_a_routes_missing_router_file(tmp_path):
    cfg = tmp_path / "faregate.yaml"
    cfg.write_text(
        "models:\n  - {name: a, provider: openai, model: gpt-4o-mini, base_url: 'http://127.0.0.1:9/v1', api_key: x}\n"
        "routes:\n  - {name: r, candidates: [a], router_model: missing-router.json}\n"
        "database_url: ''\n"
    )
    check(run(tmp_path, "serve", "--config", str(cfg), "--port", "0"), "missing-router.json", "does not exist")


def test_train_on_a_file_that_is_not_routing_data(tmp_path):
    out = tmp_path / "router.json"
    err = check(run(tmp_path, "train", str(REPO / "README.md"), "-o", str(out)), "README.md:1", "routing outcomes")
    assert not out.exists()
    assert "faregate" not in err.split("README.md", 1)[1].split("routing outcomes")[0].lower()


def test_a_config_that_is_a_password_file_is_never_echoed(tmp_path):
    f = tmp_path / "shadow"
    f.write_text(SHADOW_LIKE)
    err = check(run(tmp_path, "serve", "--config", str(f)), "not a faregate config")
    for line in SHADOW_LIKE.splitlines():
        for part in line.split(":"):
            if len(part) > 6:
                assert part not in err, err


def test_a_yaml_error_names_the_line_not_the_content(tmp_path):
    f = tmp_path / "notes.md"
    f.write_text("# Notes\n\nthe password is hunter2-SECRET\nkey: [unclosed\nmore: hunter3-SECRET\n")
    err = check(run(tmp_path, "serve", "--config", str(f)), "not valid YAML", "line")
    assert "SECRET" not in err and "hunter" not in err and "unclosed" not in err, err


def test_a_binary_config_file(tmp_path):
    f = tmp_path / "blob.yaml"
    f.write_bytes(b"\x89PNG\r\n\x1a\n\xff\xfe\x00secret")
    err = check(run(tmp_path, "serve", "--config", str(f)), "not a text file")
    assert "secret" not in err


def test_logs_export_on_a_file_that_is_not_a_database(tmp_path):
    f = tmp_path / "README.md"
    f.write_text("# not a database\n" * 50)
    check(run(tmp_path, "logs", "export", "--database-url", f"sqlite:///{f}"), "file is not a database")


def test_logs_export_on_a_missing_file_creates_nothing(tmp_path):
    missing = tmp_path / "nope.db"
    check(run(tmp_path, "logs", "export", "--database-url", f"sqlite:///{missing}"), "no request log", str(missing))
    assert not missing.exists()
