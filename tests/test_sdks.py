"""The official provider SDKs pointed at the simulator: what they send must be accepted, what the simulator
answers must parse into the SDK's own success objects and error classes. Passing here is what makes
"passes against the simulator" mean "passes against the real API" (docs/SIMULATOR.md)."""

from __future__ import annotations

import anthropic
import cohere
import openai
import pytest
from google import genai
from google.genai import errors as genai_errors
from google.genai import types as genai_types

from conftest import Sim

OPENAI_KEY = "sk-test-openai-0123456789abcdef"
ANTHROPIC_KEY = "sk-ant-test-0123456789abcdef"
GEMINI_KEY = "AIzaTestKey0123456789abcdefghij"
COHERE_KEY = "co-test-0123456789abcdef"
PING = [{"role": "user", "content": "ping"}]


def script(sim: Sim, kind: str, *outcomes: str) -> None:
    sim.script(f"latency: 1ms\nrules:\n  - match: {{kind: {kind}}}\n    retry_after: 1s\n    sequence: [{', '.join(outcomes)}]\n")


async def test_openai_sdk_success_and_errors(sim: Sim) -> None:
    client = openai.AsyncOpenAI(api_key=OPENAI_KEY, base_url=f"{sim.url}/v1", max_retries=0)
    reply = await client.chat.completions.create(model="gpt-4o-mini", messages=PING, max_tokens=1)  # type: ignore[arg-type]
    assert reply.choices[0].finish_reason == "length" and reply.usage and reply.usage.completion_tokens == 1
    reasoning = await client.chat.completions.create(model="o4-mini", messages=PING, max_completion_tokens=1)  # type: ignore[arg-type]
    assert reasoning.choices[0].message.content == ""
    with pytest.raises(openai.BadRequestError) as bad:
        await client.chat.completions.create(model="o4-mini", messages=PING, max_tokens=1)  # type: ignore[arg-type]
    assert bad.value.code == "unsupported_parameter"
    script(sim, "openai", "rate_limit", "quota", "payment_required", "gateway_quota", "server_error", "overloaded", "not_found")
    expected = [(openai.RateLimitError, "rate_limit_exceeded"), (openai.RateLimitError, "insufficient_quota"),
                (openai.APIStatusError, "invalid_request_error"), (openai.RateLimitError, "429"),
                (openai.InternalServerError, None), (openai.InternalServerError, "server_is_overloaded"),
                (openai.NotFoundError, "model_not_found")]
    for error_class, code in expected:
        with pytest.raises(error_class) as caught:
            await client.chat.completions.create(model="gpt-4o-mini", messages=PING, max_tokens=1)  # type: ignore[arg-type]
        assert caught.value.code == code, caught.value
    bad_key = openai.AsyncOpenAI(api_key="invalid-0123456789", base_url=f"{sim.url}/v1", max_retries=0)
    with pytest.raises(openai.AuthenticationError) as denied:
        await bad_key.chat.completions.create(model="gpt-4o-mini", messages=PING, max_tokens=1)  # type: ignore[arg-type]
    assert denied.value.code == "invalid_api_key" and "0123456789" not in str(denied.value)


async def test_azure_openai_sdk(sim: Sim) -> None:
    client = openai.AsyncAzureOpenAI(api_key="azure-key-0123456789", azure_endpoint=sim.url, api_version="2024-10-21", max_retries=0)
    reply = await client.chat.completions.create(model="gpt-4o-mini", messages=PING, max_tokens=1)  # type: ignore[arg-type]
    assert reply.choices[0].message.role == "assistant"
    script(sim, "azure-openai", "rate_limit")
    with pytest.raises(openai.RateLimitError) as caught:
        await client.chat.completions.create(model="gpt-4o-mini", messages=PING, max_tokens=1)  # type: ignore[arg-type]
    assert caught.value.code == "429" and caught.value.response.headers["apim-request-id"]


async def test_anthropic_sdk_success_and_errors(sim: Sim) -> None:
    client = anthropic.AsyncAnthropic(api_key=ANTHROPIC_KEY, base_url=sim.url, max_retries=0)
    message = await client.messages.create(model="claude-3-haiku-20240307", max_tokens=1, messages=PING)  # type: ignore[arg-type]
    assert message.stop_reason == "max_tokens" and message.usage.output_tokens == 1
    bearer = anthropic.AsyncAnthropic(auth_token=ANTHROPIC_KEY, base_url=sim.url, max_retries=0)  # Authorization: Bearer
    assert (await bearer.messages.create(model="claude-3-haiku-20240307", max_tokens=1, messages=PING)).type == "message"  # type: ignore[arg-type]
    script(sim, "anthropic", "overloaded", "rate_limit", "spend_limit", "payment_required", "not_found")
    expected = [(anthropic.InternalServerError, 529), (anthropic.RateLimitError, 429), (anthropic.RateLimitError, 429),
                (anthropic.APIStatusError, 402), (anthropic.NotFoundError, 404)]
    for error_class, status in expected:
        with pytest.raises(error_class) as caught:
            await client.messages.create(model="claude-3-haiku-20240307", max_tokens=1, messages=PING)  # type: ignore[arg-type]
        assert caught.value.status_code == status
        assert caught.value.request_id == caught.value.body["request_id"]  # type: ignore[index]  # header and body agree
    bad_key = anthropic.AsyncAnthropic(api_key="invalid-key", base_url=sim.url, max_retries=0)
    with pytest.raises(anthropic.AuthenticationError):
        await bad_key.messages.create(model="claude-3-haiku-20240307", max_tokens=1, messages=PING)  # type: ignore[arg-type]


async def test_google_genai_sdk_success_and_errors(sim: Sim) -> None:
    client = genai.Client(api_key=GEMINI_KEY, http_options=genai_types.HttpOptions(base_url=sim.url))
    config = genai_types.GenerateContentConfig(max_output_tokens=1)
    reply = await client.aio.models.generate_content(model="gemini-2.0-flash", contents="ping", config=config)
    assert reply.candidates and reply.candidates[0].finish_reason == genai_types.FinishReason.MAX_TOKENS
    assert reply.response_id and reply.usage_metadata and reply.usage_metadata.candidates_token_count == 1
    # the SDK sends thinking_config as the API documents it; the simulator applies its rule (2.5 Pro can't switch off)
    with pytest.raises(genai_errors.ClientError) as thinking:
        await client.aio.models.generate_content(
            model="gemini-2.5-pro", contents="ping",
            config=genai_types.GenerateContentConfig(max_output_tokens=1, thinking_config=genai_types.ThinkingConfig(thinking_budget=0)))
    assert thinking.value.code == 400 and "thinking mode" in str(thinking.value)
    script(sim, "gemini", "rate_limit", "payment_required", "overloaded")
    with pytest.raises(genai_errors.ClientError) as limited:
        await client.aio.models.generate_content(model="gemini-2.0-flash", contents="ping", config=config)
    assert limited.value.code == 429 and limited.value.status == "RESOURCE_EXHAUSTED"
    with pytest.raises(genai_errors.ClientError) as credits:
        await client.aio.models.generate_content(model="gemini-2.0-flash", contents="ping", config=config)
    assert credits.value.code == 402 and "prepayment credits" in str(credits.value)
    with pytest.raises(genai_errors.ServerError) as overloaded:
        await client.aio.models.generate_content(model="gemini-2.0-flash", contents="ping", config=config)
    assert overloaded.value.code == 503
    bad_key = genai.Client(api_key="invalid-key", http_options=genai_types.HttpOptions(base_url=sim.url))
    with pytest.raises(genai_errors.ClientError) as denied:
        await bad_key.aio.models.generate_content(model="gemini-2.0-flash", contents="ping", config=config)
    assert denied.value.code == 400 and denied.value.details["error"]["details"][0]["reason"] == "API_KEY_INVALID"


async def test_cohere_sdk_success_and_errors(sim: Sim) -> None:
    client = cohere.AsyncClientV2(api_key=COHERE_KEY, base_url=sim.url)
    reply = await client.chat(model="command-r7b-12-2024", messages=PING, max_tokens=1, request_options={"max_retries": 0})  # type: ignore[arg-type]
    assert reply.finish_reason == "MAX_TOKENS" and reply.usage and reply.usage.tokens
    script(sim, "cohere", "rate_limit", "payment_required")
    with pytest.raises(cohere.errors.TooManyRequestsError):
        await client.chat(model="command-r7b-12-2024", messages=PING, max_tokens=1, request_options={"max_retries": 0})  # type: ignore[arg-type]
    with pytest.raises(cohere.core.ApiError) as billing:
        await client.chat(model="command-r7b-12-2024", messages=PING, max_tokens=1, request_options={"max_retries": 0})  # type: ignore[arg-type]
    assert billing.value.status_code == 402


async def test_mistral_sdk_against_the_openai_compatible_route(sim: Sim) -> None:
    """Mistral's API is OpenAI-compatible (our `kind: openai`); its SDK must get on with the simulator."""
    try:
        from mistralai.client import Mistral
        from mistralai.client import errors as mistral_errors
    except ImportError:  # mistralai 1.x exported them from the top package
        from mistralai import Mistral  # type: ignore[no-redef]
        from mistralai.models import SDKError  # type: ignore[import-not-found]

        mistral_errors = type("errors", (), {"SDKError": SDKError})  # type: ignore[assignment]

    client = Mistral(api_key="mistral-key-0123456789", server_url=sim.url)
    reply = await client.chat.complete_async(model="mistral-small-latest", messages=PING, max_tokens=1)  # type: ignore[arg-type]
    assert reply.choices[0].finish_reason == "length"
    script(sim, "openai", "rate_limit")
    with pytest.raises(mistral_errors.SDKError) as caught:
        await client.chat.complete_async(model="mistral-small-latest", messages=PING, max_tokens=1)  # type: ignore[arg-type]
    assert caught.value.status_code == 429


# -- streams: each SDK consumes the simulator's streams and raises its own errors on the stream faults -------------

STREAM = "latency: 1ms\nstream: {tokens: 8, first_token: 20ms, chunk_interval: 2ms}\n"


def stream_script(sim: Sim, kind: str, *outcomes: str) -> None:
    sim.script(STREAM + f"rules:\n  - match: {{kind: {kind}}}\n    hang_for: 1s\n    sequence: [{', '.join(outcomes)}]\n")


async def test_openai_sdk_streams(sim: Sim) -> None:
    sim.script(STREAM)
    client = openai.AsyncOpenAI(api_key=OPENAI_KEY, base_url=f"{sim.url}/v1", max_retries=0, timeout=5)
    stream = await client.chat.completions.create(model="gpt-4o-mini", messages=PING, max_tokens=8, stream=True,  # type: ignore[arg-type]
                                                  stream_options={"include_usage": True})
    chunks = [chunk async for chunk in stream]
    assert chunks[0].choices[0].delta.role == "assistant"
    text = "".join(c.choices[0].delta.content or "" for c in chunks if c.choices)
    assert text.startswith("pong ") and len(text.split()) == 8
    assert [c.choices[0].finish_reason for c in chunks if c.choices][-1] == "length"
    assert chunks[-1].choices == [] and chunks[-1].usage and chunks[-1].usage.completion_tokens == 8
    with pytest.raises(openai.BadRequestError):  # stream_options without stream: refused as the API does
        await client.chat.completions.create(model="gpt-4o-mini", messages=PING, max_tokens=1, stream_options={"include_usage": True})  # type: ignore[arg-type]
    stream_script(sim, "openai", "stream_error", "stream_cut", "wrong_answer")
    with pytest.raises(openai.APIError):
        async for _ in await client.chat.completions.create(model="gpt-4o-mini", messages=PING, max_tokens=8, stream=True):  # type: ignore[arg-type]
            pass
    with pytest.raises(openai.APIError):  # the connection closes mid-stream: httpx's incomplete read, wrapped
        async for _ in await client.chat.completions.create(model="gpt-4o-mini", messages=PING, max_tokens=8, stream=True):  # type: ignore[arg-type]
            pass
    wrong = [c async for c in await client.chat.completions.create(model="gpt-4o-mini", messages=PING, max_tokens=8, stream=True)]  # type: ignore[arg-type]
    assert "".join(c.choices[0].delta.content or "" for c in wrong if c.choices).startswith("banana")


async def test_anthropic_sdk_streams(sim: Sim) -> None:
    sim.script(STREAM)
    client = anthropic.AsyncAnthropic(api_key=ANTHROPIC_KEY, base_url=sim.url, max_retries=0, timeout=5)
    async with client.messages.stream(model="claude-3-haiku-20240307", max_tokens=8, messages=PING) as stream:  # type: ignore[arg-type]
        text = "".join([piece async for piece in stream.text_stream])
        final = await stream.get_final_message()
    assert text.startswith("pong ") and final.stop_reason == "max_tokens" and final.usage.output_tokens == 8
    stream_script(sim, "anthropic", "stream_error")
    with pytest.raises(anthropic.APIStatusError) as caught:  # the in-stream overloaded_error event
        async with client.messages.stream(model="claude-3-haiku-20240307", max_tokens=8, messages=PING) as stream:  # type: ignore[arg-type]
            async for _ in stream.text_stream:
                pass
    assert "overloaded" in str(caught.value).lower()


async def test_google_genai_sdk_streams(sim: Sim) -> None:
    sim.script(STREAM)
    client = genai.Client(api_key=GEMINI_KEY, http_options=genai_types.HttpOptions(base_url=sim.url, timeout=5000))
    config = genai_types.GenerateContentConfig(max_output_tokens=8)
    chunks = [c async for c in await client.aio.models.generate_content_stream(model="gemini-2.0-flash", contents="ping", config=config)]
    assert "".join(c.text or "" for c in chunks).startswith("pong ")
    assert chunks[-1].candidates and chunks[-1].candidates[0].finish_reason == genai_types.FinishReason.MAX_TOKENS
    assert chunks[-1].usage_metadata and chunks[-1].usage_metadata.candidates_token_count == 8
    stream_script(sim, "gemini", "stream_error")
    with pytest.raises(genai_errors.APIError):
        async for _ in await client.aio.models.generate_content_stream(model="gemini-2.0-flash", contents="ping", config=config):
            pass


async def test_cohere_sdk_streams(sim: Sim) -> None:
    sim.script(STREAM)
    client = cohere.AsyncClientV2(api_key=COHERE_KEY, base_url=sim.url)
    events = [e async for e in client.chat_stream(model="command-r7b-12-2024", messages=PING, max_tokens=8,  # type: ignore[arg-type]
                                                  request_options={"max_retries": 0})]
    assert [e.type for e in events][:2] == ["message-start", "content-start"] and events[-1].type == "message-end"
    text = "".join(e.delta.message.content.text for e in events if e.type == "content-delta")  # type: ignore[union-attr]
    assert text.startswith("pong ")
    assert events[-1].delta.finish_reason == "MAX_TOKENS" and events[-1].delta.usage.tokens.output_tokens == 8  # type: ignore[union-attr]
    stream_script(sim, "cohere", "stream_error")
    failed = [e async for e in client.chat_stream(model="command-r7b-12-2024", messages=PING, max_tokens=8,  # type: ignore[arg-type]
                                                  request_options={"max_retries": 0})]
    assert failed[-1].type == "message-end" and failed[-1].delta.finish_reason == "ERROR"  # type: ignore[union-attr]


# -- embeddings: each SDK's embeddings call gets vectors it can read ------------------------------------------------

async def test_openai_sdk_embeddings(sim: Sim) -> None:
    client = openai.AsyncOpenAI(api_key=OPENAI_KEY, base_url=f"{sim.url}/v1", max_retries=0)
    reply = await client.embeddings.create(model="text-embedding-3-small", input=["ping", "pong"])  # the SDK asks for base64
    assert len(reply.data) == 2 and len(reply.data[0].embedding) == 1536 and reply.usage.prompt_tokens > 0
    assert abs(sum(v * v for v in reply.data[0].embedding) - 1) < 1e-3 and reply.data[0].embedding != reply.data[1].embedding
    small = await client.embeddings.create(model="text-embedding-3-small", input="ping", dimensions=256, encoding_format="float")
    assert len(small.data[0].embedding) == 256
    with pytest.raises(openai.BadRequestError):
        await client.embeddings.create(model="text-embedding-ada-002", input="ping", dimensions=256)
    script(sim, "openai", "rate_limit")
    with pytest.raises(openai.RateLimitError):
        await client.embeddings.create(model="text-embedding-3-small", input="ping")


async def test_google_genai_sdk_embeddings(sim: Sim) -> None:
    client = genai.Client(api_key=GEMINI_KEY, http_options=genai_types.HttpOptions(base_url=sim.url))
    reply = await client.aio.models.embed_content(model="gemini-embedding-001", contents=["ping", "pong"],
                                                  config=genai_types.EmbedContentConfig(output_dimensionality=768))
    assert reply.embeddings and len(reply.embeddings) == 2 and len(reply.embeddings[0].values or []) == 768


async def test_cohere_sdk_embeddings(sim: Sim) -> None:
    client = cohere.AsyncClientV2(api_key=COHERE_KEY, base_url=sim.url)
    reply = await client.embed(model="embed-v4.0", texts=["ping"], input_type="search_query", embedding_types=["float"],
                               request_options={"max_retries": 0})
    assert reply.embeddings.float_ and len(reply.embeddings.float_[0]) == 1536
    with pytest.raises(cohere.errors.BadRequestError):
        await client.embed(model="embed-v4.0", texts=["ping"], input_type="", embedding_types=["float"], request_options={"max_retries": 0})
