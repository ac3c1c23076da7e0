"""Simulated provider wire formats, one module per kind (mirrors healthboard.prober)."""

from healthboard.simulator.wire.anthropic import AnthropicSim
from healthboard.simulator.wire.base import FAULTS, Call, Rejected, Reply, SimWire
from healthboard.simulator.wire.cohere import CohereSim
from healthboard.simulator.wire.gemini import GeminiSim
from healthboard.simulator.wire.openai import OpenAISim

SIM_WIRES: tuple[SimWire, ...] = (OpenAISim(), AnthropicSim(), GeminiSim(), CohereSim())

__all__ = ["FAULTS", "SIM_WIRES", "Call", "Rejected", "Reply", "SimWire"]
