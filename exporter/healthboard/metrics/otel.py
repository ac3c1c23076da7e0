"""OpenTelemetry GenAI names, opt-in (``otel_names: true``): the same observations also exported under the
semantic conventions' client metrics, for dashboards and tools built on them.

- ``gen_ai.client.operation.duration`` (s) → ``gen_ai_client_operation_duration_seconds``
- ``gen_ai.client.token.usage`` ({token}) → ``gen_ai_client_token_usage``
- ``gen_ai.client.operation.time_to_first_chunk`` (s) → ``gen_ai_client_operation_time_to_first_chunk_seconds``

Attributes as the conventions name them, dots made underscores as Prometheus's OpenTelemetry guidance does:
``gen_ai_provider_name`` (their well-known values: openai, anthropic, gcp.gemini, x_ai, mistral_ai, cohere,
azure.ai.openai), ``gen_ai_request_model``, ``gen_ai_operation_name`` (chat, embeddings), ``error_type`` (on
failures), ``gen_ai_token_type`` (input, output); plus our ``region`` and ``check``. Buckets are the
conventions' advisory boundaries.
"""

from __future__ import annotations

import urllib.parse

from prometheus_client import CollectorRegistry, Histogram

from healthboard.events import Event, Probed, TargetAdded

DURATION_BUCKETS = (0.01, 0.02, 0.04, 0.08, 0.16, 0.32, 0.64, 1.28, 2.56, 5.12, 10.24, 20.48, 40.96, 81.92)
TOKEN_BUCKETS = (1, 4, 16, 64, 256, 1024, 4096, 16384, 65536, 262144, 1048576, 4194304, 16777216, 67108864)

#: Hosts of OpenAI-compatible APIs whose provider has its own well-known gen_ai.provider.name.
COMPATIBLE_HOSTS = {"api.x.ai": "x_ai", "api.mistral.ai": "mistral_ai", "api.deepseek.com": "deepseek", "api.groq.com": "groq",
                    "api.perplexity.ai": "perplexity"}
KIND_NAMES = {"openai": "openai", "azure-openai": "azure.ai.openai", "anthropic": "anthropic", "gemini": "gcp.gemini", "cohere": "cohere"}


def provider_name(kind: str, base_url: str) -> str:
    if kind == "openai":
        host = urllib.parse.urlsplit(base_url).hostname or ""
        return COMPATIBLE_HOSTS.get(host, "openai")
    return KIND_NAMES.get(kind, kind)


class OtelMetrics:
    """A consumer of the scheduler's events (added by the composition layer when ``otel_names`` is on)."""

    def __init__(self, registry: CollectorRegistry) -> None:
        common = ("gen_ai_provider_name", "gen_ai_request_model", "gen_ai_operation_name", "region", "check")
        self.duration = Histogram("gen_ai_client_operation_duration_seconds", "GenAI operation duration (OpenTelemetry GenAI semantic conventions).",
                                  (*common, "error_type"), buckets=DURATION_BUCKETS, registry=registry)
        self.tokens = Histogram("gen_ai_client_token_usage", "Number of input and output tokens used (OpenTelemetry GenAI semantic conventions).",
                                (*common, "gen_ai_token_type"), buckets=TOKEN_BUCKETS, registry=registry)
        self.first_chunk = Histogram("gen_ai_client_operation_time_to_first_chunk_seconds",
                                     "Time to receive the first chunk of a streamed response (OpenTelemetry GenAI semantic conventions).",
                                     common, buckets=DURATION_BUCKETS, registry=registry)
        self._names: dict[str, str] = {}

    def __call__(self, event: Event) -> None:
        if type(event) is TargetAdded:
            self._names[event.target.id] = provider_name(event.target.kind, event.target.base_url)
            return
        if type(event) is not Probed:
            return
        record = event.record
        operation = "embeddings" if record.check == "embeddings" else "chat"
        common = (self._names.get(record.target_id, record.provider), record.model, operation, record.region, record.check)
        self.duration.labels(*common, record.error_type.value if record.error_type else "").observe(record.latency_ms / 1000)
        if record.input_tokens is not None:
            self.tokens.labels(*common, "input").observe(record.input_tokens)
        if record.output_tokens is not None:
            self.tokens.labels(*common, "output").observe(record.output_tokens)
        if record.ttft_ms is not None:
            self.first_chunk.labels(*common).observe(record.ttft_ms / 1000)
