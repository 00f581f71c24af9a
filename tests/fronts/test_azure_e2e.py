"""Azure OpenAI as a provider (``provider: azure``): the OpenAI wire at Azure's layout
(``/openai/deployments/{deployment}/...?api-version=``), the credential in ``api-key`` or as a
bearer token; tested with the official SDK against faregate, and the fake's layout checked with
the SDK's own ``AzureOpenAI`` client."""

from __future__ import annotations

import openai
import pytest

from faregate.config import GatewayConfig
from faregate.testing.fake_fronts import fake_vector
from helpers import GATEWAY_KEY

from .fronts_config import AZURE_KEY, AZURE_VERSION, fronts_config


def client(srv) -> openai.OpenAI:
    return openai.OpenAI(base_url=srv.base_url, api_key=GATEWAY_KEY, max_retries=0, timeout=10)


def test_fake_speaks_what_the_azure_sdk_sends(upstreams):
    az = openai.AzureOpenAI(
        azure_endpoint=upstreams["openai"].root, api_key="k", api_version=AZURE_VERSION, max_retries=0, timeout=10
    )
    res = az.chat.completions.create(model="dep-1", messages=[{"role": "user", "content": "hi"}])
    assert res.choices[0].message.content
    rec = upstreams["openai"].last_request()
    assert rec["path"] == "/openai/deployments/dep-1/chat/completions" and rec["query"]["api-version"] == AZURE_VERSION


def test_chat_through_faregate_to_azure(start_server, upstreams):
    srv = start_server(fronts_config(upstreams))
    upstreams["openai"].script({"text": "from azure", "usage": {"input_tokens": 10, "output_tokens": 3}})
    raw = client(srv).chat.completions.with_raw_response.create(
        model="fake-azure", messages=[{"role": "user", "content": "hello"}]
    )
    assert raw.parse().choices[0].message.content == "from azure"
    assert float(raw.headers["x-faregate-cost-usd"]) == pytest.approx((10 * 2.5 + 3 * 10.0) / 1e6)
    rec = upstreams["openai"].last_request()
    assert rec["path"] == "/openai/deployments/my-gpt4o-deployment/chat/completions"
    assert rec["query"] == {"api-version": AZURE_VERSION}
    assert rec["headers"]["api-key"] == AZURE_KEY and "authorization" not in rec["headers"]


def test_streaming_chat_through_azure(start_server, upstreams):
    srv = start_server(fronts_config(upstreams))
    upstreams["openai"].script({"text": "streamed from azure", "chunks": 3})
    stream = client(srv).chat.completions.create(
        model="fake-azure", messages=[{"role": "user", "content": "hello"}], stream=True
    )
    assert "".join(c.choices[0].delta.content or "" for c in stream if c.choices) == "streamed from azure"
    assert upstreams["openai"].last_request()["path"].endswith("/my-gpt4o-deployment/chat/completions")


def test_embeddings_with_a_bearer_token(start_server, upstreams):
    srv = start_server(fronts_config(upstreams))
    res = client(srv).embeddings.create(model="fake-azure-embed", input="azure vectors", encoding_format="float")
    assert res.data[0].embedding == fake_vector("azure vectors")
    rec = upstreams["openai"].last_request()
    assert rec["path"] == "/openai/deployments/my-embedding-deployment/embeddings"
    assert rec["headers"]["authorization"] == "Bearer entra-id-token" and "api-key" not in rec["headers"]


def test_azure_error_is_relayed(start_server, upstreams):
    srv = start_server(fronts_config(upstreams))
    upstreams["openai"].script({"status": 400, "error_message": "content filtered"})
    with pytest.raises(openai.BadRequestError) as exc:
        client(srv).chat.completions.create(model="fake-azure", messages=[{"role": "user", "content": "x"}])
    assert "content filtered" in str(exc.value)


def test_azure_needs_an_endpoint():
    with pytest.raises(ValueError, match="provider azure needs base_url"):
        GatewayConfig.model_validate({"models": [{"name": "a", "provider": "azure", "model": "dep"}]})
