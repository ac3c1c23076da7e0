"""aiohttp application: /metrics, /, /-/healthy, /-/ready, /-/reload and /api/*."""

from __future__ import annotations

import asyncio
import hmac
import html
import json
import time
import zlib
from collections.abc import Iterator
from typing import Any, Protocol

from aiohttp import web

from healthboard import __version__
from healthboard.config import Config
from healthboard.errors import ConfigError
from healthboard.metrics import CONTENT_TYPE, Metrics
from healthboard.plan import Plan
from healthboard.history import HistoryBook
from healthboard.record import CheckRecord
from healthboard.secrets import Secret, scrub
from healthboard.web import status as pages

class Exporter(Protocol):
    """What the web layer may see of the exporter (healthboard/app/exporter.py implements it): figures to show,
    and the few actions the API offers. Nothing else, and never the scheduler itself."""

    config: Config
    config_path: str | None
    plan: Plan
    metrics: Metrics
    history: HistoryBook

    @property
    def api_token(self) -> Secret | None: ...
    def target_ids(self) -> list[str]: ...
    def pause(self, target_id: str, paused: bool) -> bool: ...
    def health_rows(self) -> list[dict[str, Any]]: ...
    def overall_health(self, rows: list[dict[str, Any]]) -> str: ...
    def metrics_rows(self) -> list[dict[str, Any]]: ...
    def recent_checks(self) -> Iterator[CheckRecord]: ...
    def official_status(self) -> dict[str, str]: ...
    @property
    def history_days(self) -> int: ...
    @property
    def history_source(self) -> str: ...
    def maintenance_rows(self) -> list[dict[str, Any]]: ...
    def redacted_config(self) -> dict[str, Any]: ...
    def reload(self, text: str | None = None) -> None: ...


EXPORTER: web.AppKey[Exporter] = web.AppKey("exporter", Exporter)  # type: ignore[type-abstract]


def make_app(exporter: Exporter) -> web.Application:
    app = web.Application()
    app[EXPORTER] = exporter
    app[_LAST_RELOAD] = []
    app.router.add_get("/", landing)
    app.router.add_get("/metrics", metrics)
    app.router.add_get("/status", status_page)
    app.router.add_get("/status/internal", status_page_internal)
    app.router.add_get("/report", monthly_report)
    app.router.add_get(r"/badge/{provider:[^/]+}.svg", badge)
    app.router.add_get(r"/badge/{provider:[^/]+}/{model:.+}.svg", badge)
    app.router.add_get("/-/healthy", healthy)
    app.router.add_get("/-/ready", ready)
    app.router.add_post("/-/reload", reload)
    app.router.add_get("/api/health", api_health)
    app.router.add_get("/api/metrics", api_metrics)
    app.router.add_get("/api/config", api_config)
    app.router.add_get("/api/checks", api_checks)
    app.router.add_post(r"/api/targets/{target_id:.+}/{action:pause|resume}", api_target_action)
    return app


def _exporter(request: web.Request) -> Exporter:
    return request.app[EXPORTER]


def _error(status: int, message: str, **extra: Any) -> web.Response:
    return web.json_response({"error": message, **extra}, status=status)


async def landing(request: web.Request) -> web.Response:
    exporter = _exporter(request)
    links = [
        ("status", "status page for people (uptime, incidents, maintenance)"),
        ("report", "monthly report from the sink's Postgres (needs status_page.history_dsn)"),
        ("/metrics", "Prometheus metrics"),
        ("/api/health", "health per target and overall (503 when unhealthy)"),
        ("/api/metrics", "per-target figures over the last 15 minutes"),
        ("/api/checks?failed=true&limit=20", "the last 20 failed checks"),
        ("/api/checks", "recent checks, newest first"),
        ("/api/config", "effective configuration, secrets redacted"),
        ("/-/healthy", "liveness"),
        ("/-/ready", "readiness"),
    ]
    items = "\n".join(f'<li><a href="{href}">{html.escape(href)}</a> — {html.escape(text)}</li>' for href, text in links)
    body = f"""<!doctype html>
<html><head><meta charset="utf-8"><title>llm-healthboard</title></head>
<body style="font-family: sans-serif; max-width: 48em; margin: 2em auto">
<h1>llm-healthboard {html.escape(__version__)}</h1>
<p>Region <b>{html.escape(exporter.config.region)}</b>, {len(exporter.plan.targets)} targets, config {html.escape(exporter.config_path or "(embedded)")}.</p>
<ul>
{items}
</ul>
<p>POST /-/reload reloads the config; POST /api/targets/&lt;id&gt;/pause|resume is the kill switch (both need the bearer token).</p>
</body></html>"""
    return web.Response(text=body, content_type="text/html")


async def metrics(request: web.Request) -> web.StreamResponse:
    """Streamed in pieces of about a millisecond's work each, giving the event loop back in between: at 5,000
    targets the text is ~18 MB and a one-piece render would hold the loop (and delay every probe due then)
    for ~100 ms and the whole text in memory. gzip (level 1) when the scraper accepts it, as Prometheus
    does: ~20x smaller, ~35 ms at 5,000 targets, a piece at a time on the loop. (A compression thread was
    slower: zlib releases the GIL, but every hand-over back waited for the render to drop it, and the same
    scrape took 30-60 % longer; docs/PERFORMANCE.md.)"""
    compressor = zlib.compressobj(1, zlib.DEFLATED, 31) if accepts_gzip(request.headers.get("Accept-Encoding", "")) else None
    headers = {"Content-Type": CONTENT_TYPE}
    if compressor is not None:
        headers["Content-Encoding"] = "gzip"
    response = web.StreamResponse(headers=headers)
    await response.prepare(request)
    for piece in _exporter(request).metrics.render_chunks():
        data = piece.encode()
        if compressor is not None:
            data = compressor.compress(data)  # may hold it back for the next piece (b"")
        if data:
            await response.write(data)
        await asyncio.sleep(0)
    if compressor is not None:
        await response.write(compressor.flush())
    await response.write_eof()
    return response


def accepts_gzip(header: str) -> bool:
    """Whether an Accept-Encoding header allows gzip (RFC 9110 §12.5.3: a q of 0 refuses a coding)."""
    q_of: dict[str, float] = {}
    for item in header.split(","):
        coding, *params = (part.strip() for part in item.split(";"))
        q = 1.0
        for param in params:
            name, _, value = param.partition("=")
            if name.strip().lower() == "q":
                try:
                    q = float(value)
                except ValueError:
                    q = 0.0
        if coding:
            q_of[coding.lower()] = q
    for coding in ("gzip", "x-gzip", "*"):
        if coding in q_of:
            return q_of[coding] > 0
    return False


async def healthy(request: web.Request) -> web.Response:
    return web.Response(text="Healthy.\n")


async def ready(request: web.Request) -> web.Response:
    exporter = _exporter(request)
    if exporter.ready():
        return web.Response(text="Ready.\n")
    return web.Response(text="Not ready: no targets.\n", status=503)


#: At most one reload through the API per this many seconds; SIGHUP is the operator's way and isn't limited.
RELOAD_MIN_GAP = 2.0
_LAST_RELOAD: web.AppKey[list[float]] = web.AppKey("last_reload", list)


def _refused(exporter: Exporter, request: web.Request, what: str) -> web.Response | None:
    """None when the request carries the API token; else the 403/401 answer. Every state-changing endpoint
    calls this first."""
    token = exporter.api_token
    if token is None:
        return _error(403, f"{what} through the API is disabled: set api_token in the config (e.g. api_token: ${{HEALTHBOARD_API_TOKEN}})"
                      + ("; send SIGHUP to reload instead" if what == "reloading" else ""))
    supplied = request.headers.get("Authorization", "")
    expected = f"Bearer {token.reveal()}"
    if not hmac.compare_digest(supplied.encode(), expected.encode()):
        return _error(401, "missing or wrong bearer token", hint="send Authorization: Bearer <api_token>")
    return None


async def reload(request: web.Request) -> web.Response:
    exporter = _exporter(request)
    refused = _refused(exporter, request, "reloading")
    if refused is not None:
        return refused
    last = request.app[_LAST_RELOAD]
    wait = RELOAD_MIN_GAP - (time.monotonic() - last[0]) if last else 0.0
    if wait > 0:
        return web.json_response({"error": "reloaded moments ago; try again shortly"}, status=429,
                                 headers={"Retry-After": str(max(1, round(wait + 0.5)))})
    last[:] = [time.monotonic()]
    try:
        exporter.reload()
    except ConfigError as exc:
        return _error(400, "config reload refused; the previous config keeps running", detail=scrub(str(exc)))
    return web.json_response({"status": "reloaded", "targets": len(exporter.plan.targets)})


async def api_health(request: web.Request) -> web.Response:
    exporter = _exporter(request)
    config = exporter.config.health
    rows = exporter.health_rows()
    overall = exporter.overall_health(rows)
    body = {
        "status": overall,
        "window_seconds": config.window,
        "thresholds": {
            "unhealthy_failure_ratio": config.unhealthy_failure_ratio,
            "degraded_p95_seconds": config.degraded_p95,
            "rate_limit_share": config.rate_limit_share,
        },
        "targets": rows,
    }
    return web.json_response(body, status=503 if overall == "unhealthy" else 200)


async def api_metrics(request: web.Request) -> web.Response:
    return web.json_response({"targets": _exporter(request).metrics_rows()})


async def api_config(request: web.Request) -> web.Response:
    return web.json_response(_exporter(request).redacted_config())


_TRUE = {"1", "true", "yes", "on"}
_FALSE = {"0", "false", "no", "off"}


async def api_checks(request: web.Request) -> web.StreamResponse:
    query = request.query
    try:
        limit = int(query.get("limit", "100"))
        if not 1 <= limit <= 10_000:
            raise ValueError
    except ValueError:
        return _error(400, "limit must be a whole number from 1 to 10000")
    failed_raw = query.get("failed")
    if failed_raw is not None and failed_raw.lower() not in _TRUE | _FALSE:
        return _error(400, "failed must be true or false")
    failed = None if failed_raw is None else failed_raw.lower() in _TRUE
    unknown = set(query) - {"limit", "failed", "provider", "model", "check", "error_type"}
    if unknown:
        return _error(400, f"unknown parameter(s): {', '.join(sorted(unknown))}; use limit, failed, provider, model, check, error_type")
    chosen: list[CheckRecord] = []  # the records themselves first: the ring may not change while it is read
    for record in _exporter(request).recent_checks():
        if failed is not None and record.ok == failed:
            continue
        if any(query.get(f) not in (None, getattr(record, f)) for f in ("provider", "model", "check")):
            continue
        if "error_type" in query and (record.error_type is None or record.error_type.value != query["error_type"]):
            continue
        chosen.append(record)
        if len(chosen) >= limit:
            break
    # then written a batch at a time: 10,000 checks as one document were ~11 MB of peak memory (docs/PERFORMANCE.md);
    # and the loop is given back after each batch, as /metrics does: a write returns at once while the socket takes
    # it, so 3,000 checks (35-70 ms of JSON) held every probe reply arriving meanwhile that long before its stamp
    response = web.StreamResponse(headers={"Content-Type": "application/json; charset=utf-8"})
    await response.prepare(request)
    await response.write(b'{"checks": [')
    for start in range(0, len(chosen), _CHECKS_BATCH):
        text = ", ".join(json.dumps(record.to_json()) for record in chosen[start:start + _CHECKS_BATCH])
        await response.write(((", " if start else "") + text).encode())
        await asyncio.sleep(0)
    await response.write(b"]}")
    await response.write_eof()
    return response


_CHECKS_BATCH = 50  # checks per streamed write of /api/checks: ~0.6 ms of JSON (11 µs a check), under a /metrics piece


async def api_target_action(request: web.Request) -> web.Response:
    exporter = _exporter(request)
    refused = _refused(exporter, request, "the kill switch")
    if refused is not None:
        return refused
    target_id = request.match_info["target_id"]
    if target_id not in exporter.target_ids():
        return _error(404, f"no target {target_id!r}", targets=sorted(exporter.target_ids()))
    paused = exporter.pause(target_id, request.match_info["action"] == "pause")
    return web.json_response({"id": target_id, "paused": paused})


# -- the people's pages (healthboard/web/status.py) --------------------------------------------------


def _status_html(exporter: Exporter, public: bool, root: str = "") -> str:
    settings = exporter.config.status_page
    days = exporter.history_days
    rows = pages.build_rows(exporter.health_rows(), exporter.history, exporter.official_status(), days)
    maintenance = exporter.maintenance_rows()
    if public:
        maintenance = [{**m, "region": None} for m in maintenance]
    source = exporter.history_source
    if source == "memory":
        note = (f"History: up to {days} days, kept in this exporter's memory since it started "
                f"({_since(exporter.history.started)}); a restart begins it anew.")
    else:
        note = (f"History: {days} days from the Postgres sink, today and yesterday from this exporter's memory"
                + (" (the sink's history is still loading)." if source == "sink-pending" else "."))
    return pages.render_status(title=settings.title, rows=rows, incidents=pages.incident_rows(exporter.history, public),
                               public=public, show_models=settings.show_models, refresh=settings.refresh,
                               history_note=note, days=days, maintenance=maintenance, root=root)


def _since(ts: float) -> str:
    import datetime as dt
    return dt.datetime.fromtimestamp(ts, dt.timezone.utc).strftime("%Y-%m-%d %H:%M UTC")


_PAGE_HEADERS = {"Cache-Control": "no-store", "Content-Security-Policy": "default-src 'none'; style-src 'unsafe-inline'; img-src 'self'",
                 "X-Content-Type-Options": "nosniff", "Referrer-Policy": "no-referrer"}


async def status_page(request: web.Request) -> web.Response:
    """The status page: the public view when ``status_page.public`` is set, else the full one."""
    exporter = _exporter(request)
    html_text = _status_html(exporter, exporter.config.status_page.public)
    return web.Response(text=html_text, content_type="text/html", headers=_PAGE_HEADERS)


async def status_page_internal(request: web.Request) -> web.Response:
    """The full view (reasons, regions, links to the API), served wherever the API is."""
    return web.Response(text=_status_html(_exporter(request), public=False, root="../"), content_type="text/html", headers=_PAGE_HEADERS)


async def badge(request: web.Request) -> web.Response:
    exporter = _exporter(request)
    provider, model = request.match_info["provider"], request.match_info.get("model")
    days = exporter.history_days
    rows = pages.build_rows(exporter.health_rows(), exporter.history, {}, days)
    row = next((r for r in rows if r.name == provider), None)
    if row is not None and model is not None:
        row = next((c for c in row.children if c.name == model), None)
    if row is None:
        svg = pages.badge_svg(provider if model is None else f"{provider}/{model}", "not probed", "unknown")
        return web.Response(text=svg, status=404, content_type="image/svg+xml", headers={"Cache-Control": "no-store"})
    label = provider if model is None else f"{provider}/{model}"
    uptime = row.availability_long
    message = pages.STATES[row.state][2] + (f" · {uptime:.2%}".replace(".00%", "%") if uptime is not None else "")
    return web.Response(text=pages.badge_svg(label, message, row.state), content_type="image/svg+xml",
                        headers={"Cache-Control": "max-age=30"})


async def monthly_report(request: web.Request) -> web.Response:
    """The monthly report (healthboard/report.py) from the sink's Postgres, as the reader role: ?month=YYYY-MM
    (default: this month) &format=html|csv|json. Served only where the API is: it names regions and incidents."""
    import datetime as dt

    import asyncpg

    from healthboard import report

    exporter = _exporter(request)
    dsn = exporter.plan.history_dsn
    if dsn is None:
        return _error(404, "no report: set status_page.history_dsn to the sink's healthboard_reader postgresql:// URL "
                           "(e.g. history_dsn: ${HEALTHBOARD_READER_DSN}) and reload")
    month = request.query.get("month") or dt.datetime.now(dt.timezone.utc).strftime("%Y-%m")
    fmt = request.query.get("format", "html")
    if fmt not in ("html", "csv", "json"):
        return _error(400, "format must be html, csv or json")
    try:
        report.month_bounds(month)
    except ValueError as exc:
        return _error(400, str(exc))
    try:
        pool = await report.connect(dsn.reveal())
        try:
            built = await report.build(pool, month, exporter.config.prices)
        finally:
            await pool.close()
    except (OSError, asyncpg.PostgresError, asyncpg.InterfaceError, TimeoutError) as exc:
        return _error(503, "the report's database can't be read", detail=scrub(f"{type(exc).__name__}: {exc}"))
    content_type = {"html": "text/html", "csv": "text/csv", "json": "application/json"}[fmt]
    return web.Response(text=report.render(built, fmt), content_type=content_type, headers={"Cache-Control": "no-store"})
