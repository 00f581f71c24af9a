"""Fields that multiply what a request costs are refused with a 400 unless neutral: faregate
reserves, charges and returns one choice, so ``n`` other than 1, log probabilities and audio
output would be billed and not returned (see wire/input_checks.py for why refuse)."""

from __future__ import annotations

import anthropic
import openai
import pytest
from inputs_support import HELLO

from helpers import GATEWAY_KEY


@pytest.fixture
def client(faregate_server):
    return openai.OpenAI(base_url=faregate_server.base_url, api_key=GATEWAY_KEY, max_retries=0)


@pytest.mark.parametrize(
    "extra,param",
    [
        ({"n": 2}, "n"),
        ({"n": 128}, "n"),
        ({"n": -1}, "n"),
        ({"n": 0}, "n"),
        ({"n": "a"}, "n"),
        ({"n": True}, "n"),
        ({"logprobs": True}, "logprobs"),
        ({"top_logprobs": 5}, "top_logprobs"),
        ({"audio": {"voice": "alloy", "format": "mp3"}}, "audio"),
        ({"modalities": ["text", "audio"]}, "modalities"),
        ({"best_of": 3}, "best_of"),
    ],
)
def test_cost_multipliers_are_refused_and_never_reach_the_upstream(client, upstreams, extra, param):
    with pytest.raises(openai.BadRequestError) as exc:
        client.chat.completions.create(model="fake-openai", messages=HELLO, extra_body=extra)
    assert exc.value.status_code == 400
    assert exc.value.body["param"] == param and len(exc.value.body["message"]) > 20
    assert upstreams["openai"].requests() == []


@pytest.mark.parametrize(
    "extra", [{}, {"n": 1}, {"n": None}, {"logprobs": False}, {"top_logprobs": 0}, {"modalities": ["text"]}]
)
def test_neutral_values_are_accepted(client, upstreams, extra):
    r = client.chat.completions.create(model="fake-openai", messages=HELLO, extra_body=extra)
    assert len(r.choices) == 1 and r.choices[0].message.content
    assert upstreams["openai"].last_request()["body"].get("n") in (None, 1)


def test_v1_messages_has_no_cost_multiplier_to_forward(faregate_server, upstreams):
    """Anthropic's API has no ``n``; its ``thinking`` budget is not forwarded (so not billed)."""
    c = anthropic.Anthropic(base_url=faregate_server.url, api_key=GATEWAY_KEY, max_retries=0)
    r = c.messages.create(
        model="fake-anthropic",
        max_tokens=16,
        messages=HELLO,
        extra_body={"thinking": {"type": "enabled", "budget_tokens": 100_000}},
    )
    assert r.content[0].text
    assert "thinking" not in upstreams["anthropic"].last_request()["body"]
