"""The exporter's HTTP surface: /metrics, the landing page, lifecycle endpoints and the JSON API."""

from healthboard.web.app import make_app

__all__ = ["make_app"]
