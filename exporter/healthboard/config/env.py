"""``${VAR}`` and ``${VAR:-default}`` expansion in config values (``$$`` is a literal ``$``)."""

from __future__ import annotations

import re
from collections.abc import Mapping

_REF = re.compile(r"\$\$|\$\{([A-Za-z_][A-Za-z0-9_]*)(?::-([^}]*))?\}")


class UnsetVariable(LookupError):
    def __init__(self, name: str) -> None:
        super().__init__(name)
        self.name = name


def expand(text: str, environ: Mapping[str, str]) -> str:
    """Expand references; raise UnsetVariable for a ``${VAR}`` that is unset or empty and has no default."""

    def substitute(match: re.Match[str]) -> str:
        if match.group(0) == "$$":
            return "$"
        name, default = match.group(1), match.group(2)
        value = environ.get(name, "")
        if value:
            return value
        if default is not None:
            return default
        raise UnsetVariable(name)

    return _REF.sub(substitute, text)


def referenced_variables(text: str) -> list[str]:
    return [m.group(1) for m in _REF.finditer(text) if m.group(1)]
