"""Which status pages to poll: the configured ones, plus the known page of each provider's API host."""

from __future__ import annotations

import urllib.parse

from pydantic import TypeAdapter

from healthboard.config.model import AnyStatusPage, Config, StatusPageConfig
from healthboard.status import STATUS_FORMATS
from healthboard.status.base import Adapter

_PAGE = TypeAdapter(AnyStatusPage)

#: The page of each API host we know, with the components that matter for the API (README: status pages).
DEFAULT_PAGES: dict[str, dict[str, object]] = {
    "api.openai.com": {"format": "incidentio", "url": "https://status.openai.com", "components": ["Chat Completions", "Responses"]},
    "api.anthropic.com": {"format": "statuspage", "url": "https://status.anthropic.com", "components": ["API"]},
    "generativelanguage.googleapis.com": {
        "format": "google-cloud", "url": "https://status.cloud.google.com/incidents.json", "components": ["Vertex Gemini API"],
    },
    "aiplatform.googleapis.com": {
        "format": "google-cloud", "url": "https://status.cloud.google.com/incidents.json", "components": ["Vertex Gemini API"],
    },
    "api.cohere.com": {"format": "incidentio", "url": "https://status.cohere.com", "components": []},
    "api.cohere.ai": {"format": "incidentio", "url": "https://status.cohere.com", "components": []},
    "api.groq.com": {"format": "incidentio", "url": "https://groqstatus.com", "components": []},
    "api.x.ai": {"format": "feed", "url": "https://status.x.ai/feed.xml", "components": []},
}


def pages_for(config: Config) -> list[StatusPageConfig]:
    """The pages to poll: the configured ones, plus (``status.defaults``) the known page of every other
    enabled provider whose API host is in DEFAULT_PAGES."""
    if not config.status.enabled:
        return []
    pages = list(config.status.pages)
    if config.status.defaults:
        listed = {page.provider for page in pages}
        for provider in config.providers:
            if provider.enabled and provider.name not in listed:
                host = urllib.parse.urlsplit(provider.base_url).hostname or ""
                if host in DEFAULT_PAGES:
                    pages.append(_PAGE.validate_python({"provider": provider.name, **DEFAULT_PAGES[host]}))
    return pages


def adapter_for(page: StatusPageConfig) -> Adapter:
    return STATUS_FORMATS[page.format]()
