"""Probers: one module per provider wire format (a ``WireFormat`` subclass that builds the request and judges
the reply, and declares its own config keys), registered below; ``engine.py`` runs them over HTTP.

The config accepts exactly the kinds registered here. Adding one: the README's "Adding a provider".
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
