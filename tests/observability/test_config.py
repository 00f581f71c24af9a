"""The observability sections: defaults, and errors that name what to fix."""

from __future__ import annotations

import pytest

from faregate.config import ConfigError, GatewayConfig, load_config


def test_defaults():
    c = GatewayConfig()
    assert c.metrics.enabled and c.metrics.port is None and not c.metrics.require_master_key
    assert not c.tracing.enabled and c.tracing.sample_ratio == 1.0 and not c.tracing.capture_content
    assert c.access_log.enabled
    assert c.alerts.enabled and c.alerts.interval_s == 60 and c.alerts.rules == []


@pytest.mark.parametrize(
    "yaml_text,words",
    [
        ("alerts: {channels: [{id: h, type: webhook}]}", ["alerts", "webhook channel needs url"]),
        ("alerts: {channels: [{id: m, type: email, smtp_host: x}]}", ["email channel needs smtp_host, sender and to"]),
        ("alerts: {channels: [{id: p, type: pager, url: 'http://x'}]}", ["alerts.channels.0.type"]),
        ("alerts: {rules: [{id: r, kind: spend, scope: key}]}", ["scope 'key' needs value"]),
        ("alerts: {rules: [{id: r, kind: error_rate, scope: team, value: a}]}", ["spend and budget rules only"]),
        ("alerts: {rules: [{id: r, kind: spend, period: year}]}", ["alerts.rules.0.period"]),
        ("alerts: {interval_s: 0}", ["alerts.interval_s"]),
        ("tracing: {sample_ratio: 2}", ["tracing.sample_ratio"]),
        ("metrics: {port: 70000}", ["metrics.port"]),
        ("access_log: {format: xml}", ["access_log.format"]),
    ],
)
def test_errors_name_the_field(tmp_path, yaml_text, words):
    path = tmp_path / "c.yaml"
    path.write_text(yaml_text + "\n")
    with pytest.raises(ConfigError) as err:
        load_config(path, env={})
    for w in words:
        assert w in str(err.value)
