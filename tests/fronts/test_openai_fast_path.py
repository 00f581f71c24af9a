"""The OpenAI chat front's fast validation path gives exactly what the general path gives: the
same ``ChatRequest`` for every body it accepts, and for every other body (invalid ones included)
it steps aside, so the client gets the general path's answer, error message and all."""

from __future__ import annotations

from typing import Any

import orjson
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from faregate.core.bounds import DEFAULT_BOUNDS, InputBounds
from faregate.core.errors import InvalidRequest
from faregate.wire import openai_fast
from faregate.wire.openai_fast import fast_chat_request
from faregate.wire.openai_front import KNOWN, MAX_MESSAGES, ROLES, OpenAIChatCodec, parse_chat_request

scalars = st.one_of(
    st.none(),
    st.booleans(),
    st.integers(-(2**62), 2**62),
    st.integers(-3, 5),
    st.floats(-3, 3, allow_nan=False, allow_infinity=False),
    st.text(max_size=6),
)
json_values = st.recursive(
    scalars,
    lambda inner: st.lists(inner, max_size=3) | st.dictionaries(st.text(max_size=4), inner, max_size=3),
    max_leaves=6,
)

# Containers too: a role that is an object or a list must be refused, not crash a set lookup.
roles = st.sampled_from(["system", "developer", "user", "assistant", "tool", "function", "bogus", ""]) | json_values
contents = st.one_of(
    st.text(max_size=8),
    st.none(),
    st.integers(-1000, 1000),
    st.lists(
        st.fixed_dictionaries({"type": st.sampled_from(["text", "image_url", "x"]), "text": st.text(max_size=4)}),
        max_size=2,
    ),
    st.lists(
        st.fixed_dictionaries(
            {"type": st.just("image_url"), "image_url": st.fixed_dictionaries({"url": st.text(min_size=1, max_size=4)})}
        ),
        max_size=2,
    ),
)


@st.composite
def messages(draw: Any) -> Any:
    msg: dict[str, Any] = {}
    if draw(st.booleans()) or draw(st.booleans()):
        msg["role"] = draw(roles)
    if draw(st.integers(0, 4)):
        msg["content"] = draw(contents)
    if draw(st.integers(0, 3)) == 0:
        msg["name"] = draw(st.text(max_size=4) | scalars)
    if draw(st.integers(0, 6)) == 0:
        msg[draw(st.sampled_from(["tool_call_id", "tool_calls", "x"]))] = draw(json_values)
    return msg


FIELD_VALUES: dict[str, Any] = {
    "model": st.sampled_from(["gpt-4o", "auto", ""]) | scalars,
    "messages": st.lists(messages(), max_size=4) | json_values,
    "stream": st.booleans() | scalars,
    "stream_options": st.fixed_dictionaries({"include_usage": st.booleans()})
    | st.fixed_dictionaries({"include_usage": scalars})
    | st.dictionaries(st.sampled_from(["include_usage", "x"]), scalars, max_size=2)
    | scalars,
    "temperature": scalars,
    "top_p": scalars,
    "max_tokens": scalars,
    "max_completion_tokens": scalars,
    "user": st.text(max_size=4) | scalars,
    "seed": scalars,
    "n": scalars,
    "tools": json_values,
    "faregate": json_values,
    "stop": json_values,
    "metadata": json_values,
    "logprobs": scalars,
    "unknown_field": scalars,
}
COMMON = ["model", "messages", "stream", "temperature", "max_tokens", "stream_options", "top_p", "user"]


plain_messages = st.lists(
    st.fixed_dictionaries(
        {"role": st.sampled_from(["system", "developer", "user", "assistant"]), "content": st.text(max_size=6)},
        optional={"name": st.text(max_size=3)},
    ),
    min_size=1,
    max_size=4,
)
PLAIN_VALUES: dict[str, Any] = {
    "stream": st.booleans(),
    "stream_options": st.fixed_dictionaries({"include_usage": st.booleans()}),
    "temperature": st.floats(0, 2) | st.integers(0, 2),
    "top_p": st.floats(0, 1) | st.integers(0, 1),
    "max_tokens": st.integers(1, 10**6),
    "max_completion_tokens": st.integers(1, 10**6),
    "user": st.text(max_size=4),
}

# Values at and past the edges of what is valid, for the fields the fast path checks.
EDGES: dict[str, Any] = {
    "temperature": st.floats(-1, 3) | st.sampled_from([2, 2.0, 2.0000001, 3, -0.0, True]),
    "top_p": st.floats(-1, 2) | st.sampled_from([1, 1.0, 1.0000001, 2, False]),
    "max_tokens": st.integers(-2, 3) | st.sampled_from([1.0, 2.5, True, "1"]),
    "max_completion_tokens": st.integers(-2, 3) | st.sampled_from([1.0, 0, True, None]),
    "stream": st.sampled_from([None, 0, 1, "true"]),
    "model": st.sampled_from(["", None, 1]),
    "user": st.sampled_from([None, 1, ["u"]]),
}


@st.composite
def plain_body(draw: Any) -> dict[str, Any]:
    """A body the fast path is meant for: a model, text messages, some plain options."""
    body: dict[str, Any] = {"model": draw(st.sampled_from(["gpt-4o", "auto", "m"])), "messages": draw(plain_messages)}
    for name in draw(st.lists(st.sampled_from(sorted(PLAIN_VALUES)), max_size=4, unique=True)):
        body[name] = draw(PLAIN_VALUES[name])
    return body


@st.composite
def mutated(draw: Any) -> Any:
    """A plain body with up to three changes: a field replaced, added or dropped, a message changed."""
    body = draw(plain_body())
    for _ in range(draw(st.integers(0, 3))):
        what = draw(st.integers(0, 4))
        if what == 4:
            name = draw(st.sampled_from(sorted(EDGES)))
            body[name] = draw(EDGES[name])
        elif what == 0:
            body[draw(st.sampled_from(sorted(FIELD_VALUES)))] = draw(scalars | json_values)
        elif what == 1:
            name = draw(st.sampled_from(sorted(FIELD_VALUES)))
            body[name] = draw(FIELD_VALUES[name])
        elif what == 2 and body:
            del body[draw(st.sampled_from(sorted(body)))]
        elif isinstance(body.get("messages"), list) and body["messages"]:
            i = draw(st.integers(0, len(body["messages"]) - 1))
            body["messages"][i] = draw(messages() | json_values)
    return body


@st.composite
def bodies(draw: Any) -> Any:
    kind = draw(st.integers(0, 15))
    if kind == 0:
        return draw(json_values)  # not even an object, mostly
    if kind < 4:
        names = draw(st.lists(st.sampled_from(COMMON), max_size=len(COMMON), unique=True))
        return {n: draw(FIELD_VALUES[n]) for n in names}
    return draw(mutated())


bounds_st = st.builds(
    InputBounds,
    max_json_depth=st.integers(1, 5),
    max_json_nodes=st.integers(1, 24),
    max_schema_nodes=st.integers(1, 50),
    max_image_parts=st.integers(-1, 3),
) | st.just(DEFAULT_BOUNDS)


def outcome(fn: Any, *args: Any) -> Any:
    try:
        return ("ok", fn(*args))
    except InvalidRequest as err:
        return ("error", type(err), err.status, err.message, err.param, err.code)


@settings(max_examples=3000, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(body=bodies(), bounds=bounds_st)
def test_the_front_answers_as_the_general_path_does(body: Any, bounds: InputBounds) -> None:
    raw = orjson.dumps(body)
    expected = outcome(parse_chat_request, orjson.loads(raw), bounds)
    assert outcome(OpenAIChatCodec().parse_request, raw, bounds) == expected
    fast = fast_chat_request(orjson.loads(raw), bounds)
    if fast is not None:  # what the fast path accepts, the general path accepts the same way
        assert expected == ("ok", fast)


def test_plain_conversations_take_the_fast_path() -> None:
    plain = [
        {"model": "m", "messages": [{"role": "user", "content": "hi"}]},
        {
            "model": "m",
            "messages": [
                {"role": "system", "content": "s"},
                {"role": "user", "content": "u", "name": "ann"},
                {"role": "assistant", "content": "a"},
            ],
            "stream": True,
            "stream_options": {"include_usage": True},
            "temperature": 0,
            "top_p": 0.5,
            "max_tokens": 16,
            "user": "u-1",
        },
        {"model": "auto", "messages": [{"role": "developer", "content": ""}], "max_completion_tokens": 3},
    ]
    for body in plain:
        fast = fast_chat_request(orjson.loads(orjson.dumps(body)), DEFAULT_BOUNDS)
        assert fast is not None
        assert fast == parse_chat_request(orjson.loads(orjson.dumps(body)))


def test_fast_path_stays_within_the_general_paths_rules() -> None:
    assert openai_fast.MAX_MESSAGES == MAX_MESSAGES
    assert openai_fast._FIELDS <= KNOWN
    assert openai_fast._ROLES <= ROLES


def test_a_role_that_is_not_a_string_goes_to_the_general_path() -> None:
    for role in ({"x": 1}, ["user"], 1, None):
        body = {"model": "m", "messages": [{"role": role, "content": "hi"}]}
        assert fast_chat_request(body, DEFAULT_BOUNDS) is None
        assert outcome(OpenAIChatCodec().parse_request, orjson.dumps(body), DEFAULT_BOUNDS)[0] == "error"


def test_a_bad_max_tokens_beside_a_good_max_completion_tokens_is_refused() -> None:
    for bad in ("lots", 0, -3, True):
        body = {"model": "m", "messages": [{"role": "user", "content": "hi"}], "max_completion_tokens": 5}
        body["max_tokens"] = bad
        result = outcome(OpenAIChatCodec().parse_request, orjson.dumps(body), DEFAULT_BOUNDS)
        assert result[0] == "error" and result[4] == "max_tokens", f"max_tokens={bad!r} was accepted"
    ok = {"model": "m", "messages": [{"role": "user", "content": "hi"}], "max_completion_tokens": 5, "max_tokens": 9}
    assert parse_chat_request(ok).max_tokens == 5, "max_completion_tokens wins when both are valid"
