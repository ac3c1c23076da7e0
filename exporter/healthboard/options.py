"""The base of every plug-in's own config keys: a wire format's (on its provider entry and on each model) and a
status-page format's. Each plug-in declares and validates its keys itself; config/model.py builds one variant
of the provider (or page) schema per registered kind from them, so a key of one kind is an error on another."""

from __future__ import annotations

from pydantic import BaseModel, ConfigDict


class Options(BaseModel):
    """Strict: unknown keys and wrong types are errors. Give each field a description: a missing required key's
    error quotes it."""

    model_config = ConfigDict(extra="forbid", frozen=True)
