"""Reading a config file: YAML with line numbers, env expansion, validation, errors that say where and what to do."""

from __future__ import annotations

import difflib
import os
import types
import typing
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any

import yaml
from pydantic import BaseModel, ValidationError

from healthboard.config import env
from healthboard.config.model import KINDS, PROVIDER_VARIANTS, STATUS_PAGE_VARIANTS, Config, inherited
from healthboard.status import STATUS_FORMATS
from healthboard.errors import ConfigError

#: Values resolved when targets are built (so an unset key skips its provider instead of failing the file).
_LAZY_KEYS = frozenset({"api_key", "api_token", "dsn", "history_dsn"})


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


def _model_at(path: Sequence[Any], data: Any) -> type[BaseModel] | None:
    """The schema model at a location, walked from ``Config`` through the field annotations, with each list
    entry's variant picked by its own ``kind``/``format``: hints name the keys allowed exactly there."""
    model: Any = Config
    node = data
    for part in path:
        if isinstance(part, int):
            node = node[part] if isinstance(node, list) and part < len(node) else None
            if isinstance(model, _Items):
                model = _inner_model(model.annotation, node)
            continue
        if not (isinstance(model, type) and part in model.model_fields):
            return None
        node = node.get(part) if isinstance(node, dict) else None
        model = _inner_model(model.model_fields[part].annotation, node)
    if isinstance(model, _Items):
        model = _inner_model(model.annotation, None)
    return model if isinstance(model, type) else None


class _Items:
    """A list's item annotation, resolved once the index (and so the item, with its kind) is known."""

    def __init__(self, annotation: Any) -> None:
        self.annotation = annotation


def _inner_model(annotation: Any, node: Any) -> Any:
    """The model an annotation holds (through Optional, Annotated, dict values); ``_Items`` for a list; for a
    discriminated union, the variant whose tag ``node`` carries (else the variants' common base)."""
    if isinstance(annotation, type) and issubclass(annotation, BaseModel):
        return annotation
    origin, args = typing.get_origin(annotation), typing.get_args(annotation)
    if origin is typing.Annotated:
        return _inner_model(args[0], node)
    if origin is list:
        return _Items(args[0])
    if origin is dict:
        return _inner_model(args[-1], None)
    if origin in (typing.Union, types.UnionType):
        variants = [a for a in args if isinstance(a, type) and issubclass(a, BaseModel)]
        for variant in variants:
            tag = _tag_of(variant)
            if tag is not None and isinstance(node, dict) and node.get(tag[0]) == tag[1]:
                return variant
        if len(variants) > 1:
            return variants[0].__mro__[1]  # the common schema every variant extends
        return variants[0] if variants else None
    return None


def _tag_of(variant: type[BaseModel]) -> tuple[str, str] | None:
    for name in ("kind", "format"):
        field = variant.model_fields.get(name)
        if field is not None and typing.get_origin(field.annotation) is typing.Literal:
            return name, typing.get_args(field.annotation)[0]
    return None


def _fields_at(path: Sequence[Any], data: Any) -> list[str]:
    """Allowed keys at a location, for 'did you mean' hints."""
    model = _model_at(path, data)
    return list(model.model_fields) if model is not None else []


def _owners_of(key: str) -> list[str]:
    """The kinds (or page formats) whose own keys include ``key``, on the entry or on its models."""
    owners = []
    for tag, variant in {**PROVIDER_VARIANTS, **STATUS_PAGE_VARIANTS}.items():
        models = variant.model_fields.get("models")
        model_keys = typing.get_args(models.annotation)[0].model_fields if models is not None else {}
        if key in variant.model_fields or key in model_keys:
            owners.append(tag)
    return owners


def _hint(error: dict[str, Any], path: list[Any], data: Any) -> str:
    kind, loc, msg = error["type"], error["loc"], error["msg"]
    if kind == "extra_forbidden":
        key = str(loc[-1])
        allowed = _fields_at(path[:-1], data)
        close = difflib.get_close_matches(key, allowed, n=1)
        owners = _owners_of(key)
        if owners and not close:
            return f"unknown key {key!r} here: it belongs to {' and '.join(owners)} only"
        return f"unknown key {key!r}" + (f"; did you mean {close[0]!r}?" if close else f"; allowed here: {', '.join(allowed)}")
    if kind == "missing":
        model = _model_at(path[:-1], data)
        field = model.model_fields.get(str(loc[-1])) if model is not None else None
        description = field.description if field is not None else None
        return f"required key {loc[-1]!r} is missing" + (f" ({description})" if description else "")
    if kind in ("union_tag_invalid", "union_tag_not_found"):
        tag = error.get("ctx", {}).get("discriminator", "").strip("'") or "kind"
        choices = ", ".join(KINDS if tag == "kind" else STATUS_FORMATS)
        if kind == "union_tag_not_found":
            return f"required key {tag!r} is missing; use one of: {choices}"
        given = str(error.get("ctx", {}).get("tag", ""))
        close = difflib.get_close_matches(given, list(KINDS if tag == "kind" else STATUS_FORMATS), n=1)
        return f"unknown {tag} {given!r}" + (f"; did you mean {close[0]!r}?" if close else f"; use one of: {choices}")
    if kind == "literal_error" and loc and loc[-1] == "check":
        provider = data["providers"][path[1]] if len(path) > 1 and isinstance(data, dict) and isinstance(data.get("providers"), list) else {}
        expected = error.get("ctx", {}).get("expected", "")
        return (f"unknown check {error.get('input')!r}" + (f" for kind {provider.get('kind')}" if isinstance(provider, dict) else "")
                + f"; it can run: {expected.replace(' or ', ', ')}")
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
            elif error["type"] == "union_tag_invalid":  # point at the kind: / format: line itself
                line, path = _locate(root, (*loc, str(error.get("ctx", {}).get("discriminator", "")).strip("'")))
            else:
                line, path = _locate(root, loc)
            problems.append((f"line {line} ({_dotted(path)})", _hint(error, path, data)))
        problems.sort(key=lambda problem: int(problem[0].split()[1]) if problem[0].split()[1].isdigit() else 0)
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
            interval, timeout = inherited(config, provider, model, "interval"), inherited(config, provider, model, "timeout")
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
    models = {(p.name, m.name) for p in config.providers for m in p.models}
    for i, window in enumerate(config.maintenance):
        if window.provider is not None and window.provider not in first:
            path = ["maintenance", i, "provider"]
            close = difflib.get_close_matches(window.provider, names, n=1)
            hint = f"; did you mean {close[0]!r}?" if close else f" (providers: {', '.join(names) or 'none'})"
            problems.append((f"line {_locate(root, path)[0]} ({_dotted(path)})", f"no provider is named {window.provider!r}{hint}"))
        elif window.model is not None and (window.provider, window.model) not in models:
            path = ["maintenance", i, "model"]
            listed = sorted(m for p, m in models if p == window.provider)
            problems.append((f"line {_locate(root, path)[0]} ({_dotted(path)})",
                             f"provider {window.provider!r} has no model {window.model!r} (it has: {', '.join(listed)})"))
    if config.cluster is not None:
        if config.sink is None:
            problems.append((f"line {_key_line(root, [], 'cluster')} (cluster)", "replicas coordinate through the sink's database: add a sink: block (supabase-sink/README.md) or remove cluster:"))
        if config.cluster.lease > config.interval:
            problems.append((_where(root, ["cluster", "lease"]),
                             f"cluster.lease {config.cluster.lease:g}s is longer than interval {config.interval:g}s: a killed replica's targets "
                             "go unprobed for up to the lease; keep it at most the interval"))
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
