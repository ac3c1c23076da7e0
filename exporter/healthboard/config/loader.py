"""Reading a config file: YAML with line numbers, env expansion, validation, errors that say where and what to do."""

from __future__ import annotations

import difflib
import os
import re
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any

import yaml
from pydantic import ValidationError

from healthboard.config import env
from healthboard.config.model import KINDS, Config
from healthboard.secrets import REDACTED, scrub

#: An opaque token in a config error is probably a credential in the wrong place: it is never quoted back.
#: Opaque: 24+ letters, digits, "_" or "-" with upper case, lower case and digits all present (API keys of
#: every provider look so; paths and names rarely do).
_OPAQUE = re.compile(r"(?<![A-Za-z0-9_\-])(?=[A-Za-z0-9_\-]*[A-Z])(?=[A-Za-z0-9_\-]*[a-z])(?=[A-Za-z0-9_\-]*[0-9])[A-Za-z0-9_\-]{24,}(?![A-Za-z0-9_\-])")


def scrub_config_text(text: str) -> str:
    return _OPAQUE.sub(REDACTED, scrub(text))

#: Values resolved when targets are built (so an unset key skips its provider instead of failing the file).
_LAZY_KEYS = frozenset({"api_key", "api_token", "dsn"})


class ConfigError(Exception):
    """A config that can't be used. ``problems`` lists (location, message) pairs; str() is the full report."""

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


class _UniqueKeyLoader(yaml.SafeLoader):
    """SafeLoader that refuses duplicate mapping keys instead of silently keeping the last."""


def _construct_mapping(loader: _UniqueKeyLoader, node: yaml.MappingNode, deep: bool = False) -> dict[Any, Any]:
    seen: dict[Any, int] = {}
    for key_node, _ in node.value:
        key = loader.construct_object(key_node, deep=deep)
        if key in seen:
            raise yaml.MarkedYAMLError(
                context=f"key {key!r} first defined on line {seen[key] + 1}",
                context_mark=None,
                problem=f"duplicate key {key!r}",
                problem_mark=key_node.start_mark,
            )
        seen[key] = key_node.start_mark.line
    return loader.construct_mapping(node, deep=deep)


_UniqueKeyLoader.add_constructor(yaml.resolver.BaseResolver.DEFAULT_MAPPING_TAG, _construct_mapping)


def _locate(root: yaml.Node | None, loc: Sequence[Any]) -> tuple[int | None, list[Any]]:
    """Follow a pydantic error location through the YAML node tree; return (1-based line, the path that exists)."""
    node, path = root, []
    for part in loc:
        if isinstance(node, yaml.MappingNode) and isinstance(part, str):
            for key_node, value_node in node.value:
                if key_node.value == part:
                    node = value_node
                    path.append(part)
                    break
            # a part not found is a union/validator tag (e.g. 'function-before[...]'): skip it
        elif isinstance(node, yaml.SequenceNode) and isinstance(part, int) and part < len(node.value):
            node = node.value[part]
            path.append(part)
    line = node.start_mark.line + 1 if node is not None else None
    return line, path


def _key_line(root: yaml.Node | None, path: list[Any], key: str) -> int | None:
    line, _ = _locate(root, path)
    node: yaml.Node | None = root
    for part in path:
        node = _child(node, part)
    if isinstance(node, yaml.MappingNode):
        for key_node, _ in node.value:
            if key_node.value == key:
                return key_node.start_mark.line + 1
    return line


def _child(node: yaml.Node | None, part: Any) -> yaml.Node | None:
    if isinstance(node, yaml.MappingNode):
        for key_node, value_node in node.value:
            if key_node.value == part:
                return value_node
    if isinstance(node, yaml.SequenceNode) and isinstance(part, int) and part < len(node.value):
        return node.value[part]
    return None


def _dotted(path: Sequence[Any]) -> str:
    out = ""
    for part in path:
        out += f"[{part}]" if isinstance(part, int) else (f".{part}" if out else str(part))
    return out or "(top level)"


def _fields_at(path: list[Any]) -> list[str]:
    """Allowed keys at a location, for 'did you mean' hints."""
    from healthboard.config.model import HealthConfig, ModelConfig, Price, ProviderConfig, SinkConfig

    shape = [p for p in path if not isinstance(p, int)]
    model: type = Config
    for part in shape:
        model = {
            "providers": ProviderConfig,
            "models": ModelConfig,
            "health": HealthConfig,
            "price": Price,
            "sink": SinkConfig,
            "prices": Price,
        }.get(part, model)
    return list(model.model_fields)


def _hint(error: dict[str, Any], path: list[Any]) -> str:
    kind, loc, msg = error["type"], error["loc"], error["msg"]
    if kind == "extra_forbidden":
        key = str(loc[-1])
        close = difflib.get_close_matches(key, _fields_at(path), n=1)
        return f"unknown key {key!r}" + (f"; did you mean {close[0]!r}?" if close else f"; allowed here: {', '.join(_fields_at(path))}")
    if kind == "missing":
        return f"required key {loc[-1]!r} is missing"
    if kind == "literal_error" and loc and loc[-1] == "kind":
        return f"unknown kind {error.get('input')!r}; use one of: {', '.join(KINDS)}"
    if kind == "string_pattern_mismatch" and loc and loc[-1] == "base_url":
        return f"{error.get('input')!r} is not a URL; write e.g. https://api.openai.com/v1"
    msg = msg.removeprefix("Value error, ")
    return msg


def parse_yaml(text: str, source: str) -> tuple[Any, yaml.Node | None]:
    try:
        root = yaml.compose(text, Loader=yaml.SafeLoader)
        data = yaml.load(text, Loader=_UniqueKeyLoader)  # noqa: S506 - SafeLoader subclass
    except yaml.MarkedYAMLError as exc:
        mark = exc.problem_mark
        where = f"line {mark.line + 1}, column {mark.column + 1}" if mark else "?"
        raise ConfigError(source, [(where, f"{exc.problem}{'; ' + exc.context if exc.context else ''}")]) from None
    except yaml.YAMLError as exc:
        raise ConfigError(source, [("?", str(exc))]) from None
    return data, root


def _expand_env(data: Any, root: yaml.Node | None, source: str, environ: Mapping[str, str], path: list[Any]) -> Any:
    if isinstance(data, dict):
        return {
            k: (v if k in _LAZY_KEYS else _expand_env(v, root, source, environ, [*path, k])) for k, v in data.items()
        }
    if isinstance(data, list):
        return [_expand_env(v, root, source, environ, [*path, i]) for i, v in enumerate(data)]
    if isinstance(data, str) and "$" in data:
        try:
            return env.expand(data, environ)
        except env.UnsetVariable as exc:
            line, _ = _locate(root, path)
            raise ConfigError(
                source,
                [(f"line {line} ({_dotted(path)})", f"environment variable {exc.name} is not set; export it or write ${{{exc.name}:-default}}")],
            ) from None
    return data


def parse_config(text: str, source: str = "<config>", environ: Mapping[str, str] | None = None) -> Config:
    data, root = parse_yaml(text, source)
    if data is None:
        raise ConfigError(source, [("file", "is empty: write at least `providers:` (see the README's configuration reference), "
                                            "or run without --config for the built-in default")])
    if not isinstance(data, dict):
        raise ConfigError(source, [("line 1", "the file must be a YAML mapping (key: value), see the README's configuration reference")])
    data = _expand_env(data, root, source, os.environ if environ is None else environ, [])
    try:
        config = Config.model_validate(data)
    except ValidationError as exc:
        problems = []
        for error in exc.errors():
            loc = error["loc"]
            if error["type"] in ("extra_forbidden", "missing"):
                _, parent = _locate(root, loc[:-1])
                line = _key_line(root, parent, str(loc[-1])) if error["type"] == "extra_forbidden" else _locate(root, loc[:-1])[0]
                path = [*parent, loc[-1]]
            else:
                line, path = _locate(root, loc)
            problems.append((f"line {line} ({_dotted(path)})", _hint(error, path)))
        raise ConfigError(source, problems) from None
    _check_across(config, root, source)
    return config


def _where(root: yaml.Node | None, path: list[Any]) -> str:
    line, found = _locate(root, path)
    return f"line {line} ({_dotted(found)})"


def _check_across(config: Config, root: yaml.Node | None, source: str) -> None:
    """Checks across fields and providers, all reported at once, each at its own line: duplicate providers and
    models, a timeout not shorter than its interval, names that must refer to something elsewhere."""
    names = [p.name for p in config.providers]
    problems = []
    first: dict[str, int] = {}
    for i, provider in enumerate(config.providers):
        if provider.name in first:
            problems.append((_where(root, ["providers", i, "name"]),
                             f"provider name {provider.name!r} is used twice (first at {_where(root, ['providers', first[provider.name], 'name'])}); names must be unique"))
        first.setdefault(provider.name, i)
        seen: dict[tuple[str, str], int] = {}
        for j, model in enumerate(provider.models):
            key = (model.name, model.check)
            if key in seen:
                problems.append((_where(root, ["providers", i, "models", j]),
                                 f"model {model.name!r} (check {model.check!r}) is listed twice in provider {provider.name!r}; remove one"))
            seen.setdefault(key, j)
            interval = model.interval or provider.interval or config.interval
            timeout = model.timeout or provider.timeout or config.timeout
            if timeout >= interval:
                problems.append((_where(root, ["providers", i, "models", j]),
                                 f"{provider.name}/{model.name}: timeout {timeout:g}s must be shorter than interval {interval:g}s"))
    for i, page in enumerate(config.status.pages):
        if page.provider not in first:
            path = ["status", "pages", i, "provider"]
            line, _ = _locate(root, path)
            close = difflib.get_close_matches(page.provider, names, n=1)
            hint = f"; did you mean {close[0]!r}?" if close else f" (providers: {', '.join(names) or 'none'})"
            problems.append((f"line {line} ({_dotted(path)})", f"no provider is named {page.provider!r}{hint}"))
    if problems:
        raise ConfigError(source, problems)


def load_config(path: str | os.PathLike[str], environ: Mapping[str, str] | None = None) -> Config:
    source = str(path)
    try:
        text = Path(path).read_text(encoding="utf-8")
    except FileNotFoundError:
        raise ConfigError(source, [("file", "not found; pass --config FILE, or run `healthboard check-config FILE` to test one")]) from None
    except (OSError, UnicodeDecodeError) as exc:
        raise ConfigError(source, [("file", f"can't be read: {exc}")]) from None
    return parse_config(text, source, environ)
