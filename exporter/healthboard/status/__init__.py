"""The official status poller: what each provider's status page says, for the mismatch alert (S3 of the product
spec: "our probes and the official page disagree"), the detection lead and the dashboards.

One module per page format, registered here; a format declares its own config keys (``options``) and the config
accepts a page of a registered ``format`` only. ``pages.py`` adds the known page of each provider.
"""

from __future__ import annotations

from healthboard.status.base import Adapter, Component, Incident, Reading, StatusPageError
from healthboard.status.feed import FeedAdapter
from healthboard.status.google_cloud import GoogleCloudAdapter
from healthboard.status.statuspage import IncidentIoAdapter, StatuspageAdapter

STATUS_FORMATS: dict[str, type] = {adapter.format: adapter for adapter in (StatuspageAdapter, IncidentIoAdapter, GoogleCloudAdapter, FeedAdapter)}

__all__ = ["STATUS_FORMATS", "Adapter", "Component", "Incident", "Reading", "StatusPageError"]
