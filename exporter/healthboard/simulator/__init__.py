"""A local stand-in for the LLM providers, speaking their documented wire formats (``healthboard simulate``)."""

from healthboard.simulator.scenario import Scenario, load_scenario, parse_scenario
from healthboard.simulator.server import Simulator, running_simulator

__all__ = ["Scenario", "Simulator", "load_scenario", "parse_scenario", "running_simulator"]
