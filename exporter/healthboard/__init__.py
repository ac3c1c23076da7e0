"""llm-healthboard: a synthetic monitor for LLM APIs."""

__version__ = "0.1.0"
