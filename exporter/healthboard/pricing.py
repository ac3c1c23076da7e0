"""Estimated probe cost from a price table (USD per million tokens).

Defaults are the providers' list prices for the default models as published in 2025; they change,
so override them in the config's ``prices:`` or per model with ``price:``.
"""

from __future__ import annotations

from healthboard.config import Config, Price

DEFAULT_PRICES: dict[str, Price] = {
    "gpt-4o-mini": Price(input=0.15, output=0.60),
    "gpt-4.1-mini": Price(input=0.40, output=1.60),
    "gpt-4.1-nano": Price(input=0.10, output=0.40),
    "o3-mini": Price(input=1.10, output=4.40),
    "o4-mini": Price(input=1.10, output=4.40),
    "claude-3-haiku-20240307": Price(input=0.25, output=1.25),
    "claude-3-5-haiku-latest": Price(input=0.80, output=4.00),
    "claude-haiku-4-5": Price(input=1.00, output=5.00),
    "gemini-2.0-flash": Price(input=0.10, output=0.40),
    "gemini-2.0-flash-lite": Price(input=0.075, output=0.30),
    "gemini-2.5-flash": Price(input=0.30, output=2.50),
    "grok-3-mini": Price(input=0.30, output=0.50),
    "mistral-small-latest": Price(input=0.10, output=0.30),
    "command-r7b-12-2024": Price(input=0.0375, output=0.15),
    "command-r-08-2024": Price(input=0.15, output=0.60),
}

#: What a "ping" with one output token costs in tokens when the provider doesn't say (chat framing included).
ASSUMED_INPUT_TOKENS = 10
ASSUMED_OUTPUT_TOKENS = 1


def price_for(config: Config, model: str, override: Price | None) -> Price | None:
    if override is not None:
        return override
    if model in config.prices:
        return config.prices[model]
    return DEFAULT_PRICES.get(model)


def cost_usd(price: Price | None, input_tokens: int | None, output_tokens: int | None) -> float:
    if price is None:
        return 0.0
    return ((input_tokens or 0) * price.input + (output_tokens or 0) * price.output) / 1_000_000


def probes_per_month(interval_seconds: float) -> float:
    return 30 * 86400 / interval_seconds
