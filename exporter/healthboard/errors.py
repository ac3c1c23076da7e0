"""The project's exceptions, in one place: every module that refuses a config, a scenario or a listen address
raises one of these, and the CLI turns them into one report and exit code 2 (no traceback)."""

from __future__ import annotations

import re

from healthboard.secrets import REDACTED, scrub

#: An opaque token in a config error is probably a credential in the wrong place: it is never quoted back.
#: Opaque: 24+ letters, digits, "_" or "-" with upper case, lower case and digits all present (API keys of
#: every provider look so; paths and names rarely do).
_OPAQUE = re.compile(r"(?<![A-Za-z0-9_\-])(?=[A-Za-z0-9_\-]*[A-Z])(?=[A-Za-z0-9_\-]*[a-z])(?=[A-Za-z0-9_\-]*[0-9])[A-Za-z0-9_\-]{24,}(?![A-Za-z0-9_\-])")


def scrub_config_text(text: str) -> str:
    """Registered secrets, key shapes and opaque mixed-case tokens replaced by [REDACTED]."""
    return _OPAQUE.sub(REDACTED, scrub(text))


class ConfigError(Exception):
    """A config (or scenario, or command-line setting) that can't be used. ``problems`` lists (location, message)
    pairs; str() is the full report."""

    def __init__(self, source: str, problems: list[tuple[str, str]]) -> None:
        self.source = source
        self.problems = problems
        super().__init__(self.report())

    def headline(self) -> str:
        return f"invalid configuration ({len(self.problems)} problem{'s' if len(self.problems) != 1 else ''})"

    def report(self) -> str:
        """Every problem on a line of its own, secrets and anything shaped like a key scrubbed (a key pasted into
        the wrong field must not be quoted back)."""
        lines = [f"{self.source}: {self.headline()}"]
        lines += [f"  {where}: {what}" for where, what in self.problems]
        return scrub_config_text("\n".join(lines))


class NoTargets(ConfigError):
    """The config is valid but nothing can be probed (every provider skipped)."""

    def headline(self) -> str:
        skipped = sum(1 for where, _ in self.problems if where.startswith("provider "))
        return f"nothing to probe: {skipped} provider{'s' if skipped != 1 else ''} skipped" if skipped else "nothing to probe: no providers configured"
