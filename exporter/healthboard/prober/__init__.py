"""Probers: one module per provider wire format, and the HTTP engine that runs them.

Adding a provider kind is one module here (a WireFormat subclass), registering it below, plus its
fixtures under tests/fixtures/<kind>/ and a simulator module under healthboard/simulator/wire/.
"""

from healthboard.prober.anthropic import AnthropicWire
from healthboard.prober.base import Reply, Request, Verdict, WireFormat
from healthboard.prober.cohere import CohereWire
from healthboard.prober.gemini import GeminiWire
from healthboard.prober.openai import AzureOpenAIWire, OpenAIWire

WIRE_FORMATS: dict[str, WireFormat] = {
    wire.kind: wire for wire in (OpenAIWire(), AzureOpenAIWire(), AnthropicWire(), GeminiWire(), CohereWire())
}

__all__ = ["WIRE_FORMATS", "Reply", "Request", "Verdict", "WireFormat"]
