"""One redaction for error messages and the request log: both former behaviours through it."""

from __future__ import annotations

from faregate.core.redact import ERROR_MARKER, LOG_MARKER, redact

LOG_TEXT = (
    "key sk-proj-abcdefghijklmnopqrstuvwx and fg-live_0123456789abcdef, "
    "Authorization: Bearer eyJhbGciOiJIUzI1NiJ9.payload.sig and AKIAIOSFODNN7EXAMPLE "
    "aws_secret_access_key=wJalrXUtnFEMI/K7MDENG/bPxRfiCYEXAMPLEKEY1 mail bob@example.com "
    "google AIzaSyA-1234567890abcdefghijklmnopqrstu ghp_0123456789abcdefghijklmnopqrstuvwxyz "
    "xoxb-1234567890-abcdef"
)
ERROR_TEXTS = (
    "Incorrect API key provided: sk-proj-abcdEFGH1234****wxyz. Find your key at ...",
    "echo of headers: {'authorization': 'Bearer opaque-token-value-99'}",
    'x-goog-api-key: "AIzaSyA1234567890abcdefGHIJ"',
    "GET /v1beta/models/m:generateContent?key=opaque-token-value-99 failed",
    "token=opaque-token-value-99&x=1",
)


def test_the_request_log_patterns_hold():
    out = redact(LOG_TEXT, marker=LOG_MARKER)
    for secret in (
        "sk-proj-abc",
        "fg-live_0123",
        "eyJhbGci",
        "AKIAIOSFODNN7EXAMPLE",
        "wJalrXUtnFEMI",
        "AIzaSyA",
        "ghp_0123",
        "xoxb-1234",
    ):
        assert secret not in out, secret
    assert "Bearer [REDACTED]" in out and "bob@example.com" in out
    assert "bob@example.com" not in redact(LOG_TEXT, emails=True, marker=LOG_MARKER)
    assert redact(None) is None and redact("") == ""


def test_the_error_message_patterns_hold():
    for message in ERROR_TEXTS:
        out = redact(message)
        assert ERROR_MARKER in out, message
        assert not any(s in out for s in ("abcdEFGH1234", "opaque-token-value-99", "AIzaSyA1234567890")), out
    assert redact("The model `gpt-9` does not exist") == "The model `gpt-9` does not exist"


def test_configured_secrets_are_masked_with_either_marker():
    text = "configured secret xyz-SECRET-1 echoed, fg-live_0123456789abcdef too"
    assert redact(text, frozenset({"xyz-SECRET-1"})) == "configured secret [redacted] echoed, [redacted] too"
    assert redact(text, ["xyz-SECRET-1"], marker=LOG_MARKER) == "configured secret [REDACTED] echoed, [REDACTED] too"
    assert redact("short abc", {"abc"}) == "short abc"  # too short to mask safely
