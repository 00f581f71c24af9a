"""faregate's token estimate for the counting endpoints is the one limits and routing use."""

from __future__ import annotations

from faregate.routing import estimate as routing_estimate
from faregate.wire import token_count
from faregate.wire.anthropic_front import parse_messages_request


def test_the_estimate_is_the_routing_one_plus_tools():
    assert token_count.CHARS_PER_TOKEN == routing_estimate.CHARS_PER_TOKEN
    assert token_count.TOKENS_PER_MESSAGE == routing_estimate.TOKENS_PER_MESSAGE
    body = {"model": "m", "max_tokens": 1, "system": "Be brief.", "messages": [{"role": "user", "content": "x" * 400}]}
    req = parse_messages_request(body)
    plain = token_count.estimate_input_tokens(req)
    assert plain == routing_estimate.prompt_tokens(req.prompt_text(), len(req.messages), overhead=3)
    tools = [{"name": "lookup", "description": "d" * 200, "input_schema": {"type": "object"}}]
    with_tools = token_count.estimate_input_tokens(parse_messages_request({**body, "tools": tools}))
    assert with_tools >= plain + 50  # a tool's definition is counted too
