"""deploy/ validated statically (Docker and Kubernetes do not run here): the Dockerfile parsed
(``dockerfile-parse``), the compose file against the compose-spec schema vendored by
``check-jsonschema``, the manifests with ``kubernetes-validate`` (offline schemas, strict),
and the nginx config ``faregate cluster`` generates with ``nginx -t``."""

from __future__ import annotations

import copy
import os
import shutil
import subprocess
import sys
from pathlib import Path

import pytest
import yaml

DEPLOY = Path(__file__).resolve().parents[2] / "deploy"


def test_dockerfile_is_slim_non_root_with_a_readiness_healthcheck():
    from dockerfile_parse import DockerfileParser

    df = DockerfileParser(path=str(DEPLOY / "Dockerfile"))
    assert df.baseimage.endswith("-slim")
    users = [i["value"] for i in df.structure if i["instruction"] == "USER"]
    assert users and users[-1] not in ("root", "0")
    health = [i["value"] for i in df.structure if i["instruction"] == "HEALTHCHECK"]
    assert len(health) == 1 and "/health/ready" in health[0]
    assert any(i["instruction"] == "STOPSIGNAL" and i["value"] == "SIGTERM" for i in df.structure)
    assert "faregate" in df.structure[-2]["value"] or "faregate" in df.structure[-1]["value"]


def _check_compose(path: Path) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "check_jsonschema", "--builtin-schema", "vendor.compose-spec", str(path)],
        capture_output=True,
        text=True,
        timeout=60,
    )


def test_compose_file_matches_the_compose_spec(tmp_path):
    done = _check_compose(DEPLOY / "docker-compose.yml")
    assert done.returncode == 0, done.stdout + done.stderr
    spec = yaml.safe_load((DEPLOY / "docker-compose.yml").read_text())
    services = spec["services"]
    assert {"faregate-1", "faregate-2", "faregate-3", "nginx", "redis", "postgres"} <= set(services)
    # The validator does refuse a broken file (so the pass above means something).
    broken = copy.deepcopy(spec)
    broken["services"]["nginx"]["ports"] = {"not": "a list"}
    bad = tmp_path / "compose.yml"
    bad.write_text(yaml.safe_dump(broken))
    assert _check_compose(bad).returncode != 0


def test_kubernetes_manifests_validate_strictly():
    import kubernetes_validate

    kinds = set()
    for path in sorted((DEPLOY / "k8s").glob("*.yaml")):
        for doc in yaml.safe_load_all(path.read_text()):
            kubernetes_validate.validate(doc, kubernetes_validate.latest_version(), strict=True)
            kinds.add(doc["kind"])
    assert kinds == {"Deployment", "Service", "ConfigMap", "Secret", "HorizontalPodAutoscaler"}
    deployment = yaml.safe_load((DEPLOY / "k8s" / "deployment.yaml").read_text())
    c = deployment["spec"]["template"]["spec"]["containers"][0]
    assert c["readinessProbe"]["httpGet"]["path"] == "/health/ready"
    assert c["livenessProbe"]["httpGet"]["path"] == "/health/live"
    assert "preStop" in c["lifecycle"]
    wrong = copy.deepcopy(deployment)
    wrong["spec"]["replicas"] = "three"
    with pytest.raises(kubernetes_validate.ValidationError):
        kubernetes_validate.validate(wrong, kubernetes_validate.latest_version(), strict=True)


def test_generated_nginx_config_passes_nginx_t(tmp_path):
    if not (shutil.which("nginx") or os.access("/usr/sbin/nginx", os.X_OK)):
        if os.environ.get("FAREGATE_REQUIRE_SERVICES") == "1":
            pytest.fail("nginx is required (FAREGATE_REQUIRE_SERVICES=1) but not installed")
        pytest.skip("nginx not installed")
    from faregate.cluster import nginx

    conf = nginx.write_config(tmp_path, 18080, [18081, 18082, 18083])  # runs `nginx -t`
    text = conf.read_text()
    for line in ("proxy_buffering off;", "proxy_read_timeout 3600s;", "max_fails=1 fail_timeout=2s"):
        assert line in text
    conf.write_text(text.replace("proxy_buffering off;", "proxy_buffering sideways;"))
    with pytest.raises(Exception, match="nginx refused"):
        nginx.check(conf)
