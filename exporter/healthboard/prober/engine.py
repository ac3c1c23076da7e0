"""The HTTP engine: sends a wire format's request, times every phase, reads the body under a cap and a
deadline, and turns any outcome (reply or exception) into exactly one CheckRecord.

Phases come from aiohttp tracing (DNS, connection), a connector hook that stamps the moment the TCP
connection is up (so TLS is measured apart from TCP connect), and the response protocol, which stamps the
reply's first and last bytes as the loop hands them over (TTFB, end of transfer). All stamps use
time.perf_counter(), taken in the callbacks themselves, so event-loop scheduling noise after the fact (the
probe's task waiting for its turn behind a /metrics scrape) doesn't leak into the figures.
"""

from __future__ import annotations

import asyncio
import contextvars
import dataclasses
import functools
import logging
import os
import socket
import ssl
import time
from collections.abc import Iterator
from types import SimpleNamespace
from typing import Any

import aiohttp
import sseclient
from aiohttp.client_proto import ResponseHandler

from healthboard import quality
from healthboard.pricing import cost_usd
from healthboard.prober import WIRE_FORMATS
from healthboard.prober.base import Reply, Verdict, WireFormat, deprecation_notice, request_id_from, retry_after_seconds, short
from healthboard.record import CheckRecord, ErrorType
from healthboard.plan import Target

log = logging.getLogger(__name__)
clock = time.perf_counter


@dataclasses.dataclass(slots=True)
class Stamps:
    start: float = 0.0
    conn_start: float | None = None
    dns_start: float | None = None
    dns_end: float | None = None
    tcp_end: float | None = None
    conn_end: float | None = None
    headers: float | None = None
    end: float | None = None
    first_byte: float | None = None  # protocol level: when the loop handed over the reply's first bytes
    last_byte: float | None = None  # … and its latest bytes
    https: bool = False
    sent: float | None = None  # when the request's last byte was handed to the socket (connection set up by then)
    arrivals: list[tuple[float, int]] | None = None  # stream checks: (when, body bytes so far) at each arrival

    def finished(self) -> float:
        """When the reply was complete: its last bytes as the protocol got them, not when the probe's task
        was next scheduled (under a busy loop that can be milliseconds later)."""
        if self.end is not None:
            return self.last_byte if self.last_byte is not None and self.last_byte <= self.end else self.end
        return clock()

    def phases(self) -> dict[str, float]:
        out: dict[str, float] = {}
        if self.dns_start is not None and self.dns_end is not None:
            out["dns"] = self.dns_end - self.dns_start
        connected = self.tcp_end if self.tcp_end is not None else self.conn_end
        if self.conn_start is not None and connected is not None:
            out["connect"] = connected - (self.dns_end if self.dns_end is not None else self.conn_start)
        if self.https and self.tcp_end is not None and self.conn_end is not None:
            out["tls"] = self.conn_end - self.tcp_end
        first = self.first_byte if self.first_byte is not None else self.headers
        if first is not None:
            waited_from = self.conn_end if self.conn_end is not None else self.start
            out["ttfb"] = max(0.0, first - waited_from)
            if self.end is not None:
                out["transfer"] = max(0.0, self.finished() - max(first, waited_from))
        return out

    def stalled_in(self) -> str:
        if self.headers is not None:
            return "transfer (body still arriving)"
        if self.conn_end is not None:
            return "ttfb (waiting for response headers)"
        if self.tcp_end is not None:
            return "tls"
        if self.dns_end is not None or self.conn_start is not None:
            return "connect"
        return "dns"


_stamps: contextvars.ContextVar[Stamps | None] = contextvars.ContextVar("healthboard_stamps", default=None)


class _StampingLoop:
    """Event-loop proxy for one connector: stamps the moment aiohttp hands a connected socket to
    ``loop.create_connection`` for the TLS handshake. Stamps go to the calling task's probe (a contextvar),
    so concurrent probes never see each other's times."""

    __slots__ = ("_loop",)

    def __init__(self, loop: asyncio.AbstractEventLoop) -> None:
        self._loop = loop

    async def create_connection(self, protocol_factory: Any, *args: Any, **kwargs: Any) -> Any:
        stamps = _stamps.get()
        if stamps is not None and kwargs.get("sock") is not None:
            stamps.tcp_end = clock()
            make = protocol_factory

            def protocol_factory() -> Any:
                protocol = make()
                if isinstance(protocol, _StampingHandler):
                    protocol.stamps = stamps
                return protocol

        return await self._loop.create_connection(protocol_factory, *args, **kwargs)

    def __getattr__(self, name: str) -> Any:
        return getattr(self._loop, name)


class _StampingHandler(ResponseHandler):
    """aiohttp's response protocol, stamping when reply bytes arrive. ``data_received`` runs as soon as the
    event loop sees the socket readable, before the parser and the probe's task get their turns, so a loop
    busy with other work (a /metrics scrape, the sink) adds as little as possible to the measured time."""

    stamps: Stamps | None = None

    def data_received(self, data: bytes) -> None:
        stamps = self.stamps
        now = 0.0
        if stamps is not None and data:
            now = clock()
            if stamps.first_byte is None:
                stamps.first_byte = now
            stamps.last_byte = now
        super().data_received(data)
        if stamps is not None and stamps.arrivals is not None and self._payload is not None:
            # the parser has fed this read's body bytes to the payload: when each part of the body arrived
            total = self._payload.total_bytes
            if total and (not stamps.arrivals or total > stamps.arrivals[-1][1]):
                stamps.arrivals.append((now, total))


class _StampingConnector(aiohttp.TCPConnector):
    """TCPConnector that records when TCP is connected, before the TLS handshake starts.

    aiohttp connects the socket with aiohappyeyeballs, then calls ``self._loop.create_connection(sock=…)``
    to wrap it in TLS; the proxy stamps that hand-over without copying aiohttp code.
    tests/test_engine.py checks the TLS phase is measured, so an aiohttp change that bypasses this fails CI."""

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self._factory = functools.partial(_StampingHandler, loop=self._loop)
        self._loop = _StampingLoop(self._loop)  # type: ignore[assignment]


def _on(attribute: str):
    async def callback(session: Any, ctx: SimpleNamespace, params: Any) -> None:
        stamps = ctx.trace_request_ctx
        if isinstance(stamps, Stamps):
            setattr(stamps, attribute, clock())

    return callback


def _trace_config() -> aiohttp.TraceConfig:
    trace = aiohttp.TraceConfig()
    trace.on_connection_create_start.append(_on("conn_start"))
    trace.on_connection_create_end.append(_on("conn_end"))
    trace.on_dns_resolvehost_start.append(_on("dns_start"))
    trace.on_dns_resolvehost_end.append(_on("dns_end"))
    # aiohttp awaits these right before each write, in the same step: the last one is the request on the wire
    trace.on_request_headers_sent.append(_on("sent"))
    trace.on_request_chunk_sent.append(_on("sent"))
    return trace


class ProbeEngine:
    """Owns the HTTP client sessions. Use as ``async with ProbeEngine() as engine: await engine.probe(t)``."""

    def __init__(self, max_body_bytes: int = 1_048_576, ssl_context: ssl.SSLContext | None = None) -> None:
        self.max_body_bytes = max_body_bytes
        # Built now, not at the first HTTPS probe: loading the CA bundle takes ~100 ms and would block the
        # event loop (and delay every probe due then) in the middle of probing.
        self.ssl_context = ssl_context if ssl_context is not None else ssl.create_default_context()
        self._fresh: aiohttp.ClientSession | None = None
        self._pooled: aiohttp.ClientSession | None = None
        self._turns: dict[str, int] = {}  # quality checks: which question each target asks next

    def _session(self, keep_alive: bool) -> aiohttp.ClientSession:
        if keep_alive:
            if self._pooled is None:
                self._pooled = self._new_session(force_close=False)
            return self._pooled
        if self._fresh is None:
            self._fresh = self._new_session(force_close=True)
        return self._fresh

    def _new_session(self, force_close: bool) -> aiohttp.ClientSession:
        connector = _StampingConnector(
            limit=0,
            force_close=force_close,
            use_dns_cache=not force_close,  # a fresh connection per probe resolves DNS every time
            ssl=self.ssl_context,
            family=socket.AF_UNSPEC,
        )
        return aiohttp.ClientSession(
            connector=connector,
            trace_configs=[_trace_config()],
            timeout=aiohttp.ClientTimeout(total=None),  # the probe's own deadline governs
            auto_decompress=True,
            skip_auto_headers=("User-Agent",),
            headers={"User-Agent": "llm-healthboard"},
        )

    async def __aenter__(self) -> "ProbeEngine":
        return self

    async def __aexit__(self, *exc: object) -> None:
        await self.close()

    async def close(self) -> None:
        for session in (self._fresh, self._pooled):
            if session is not None:
                await session.close()
        self._fresh = self._pooled = None

    async def probe(self, target: Target, scheduled: bool = True) -> CheckRecord:
        """Run one probe. Never raises (except cancellation): every outcome is a record."""
        wire = WIRE_FORMATS[target.kind]
        question = None
        if target.questions:  # quality checks ask their questions in turn
            turn = self._turns.get(target.id, 0)
            self._turns[target.id] = turn + 1
            question = target.questions[turn % len(target.questions)]
            target = dataclasses.replace(target, prompt=question.prompt)
        streamed = target.check == "stream"
        embeds = target.check == "embeddings"
        if streamed:
            request = wire.build_stream_request(target)
        elif embeds:
            request = wire.build_embeddings_request(target)
        elif target.check == "tools":
            request = wire.build_tools_request(target)
        elif target.check == "vision":
            request = wire.build_vision_request(target)
            question = quality.VISION_QUESTION
        else:
            request = wire.build_request(target)
        stamps = Stamps(https=request.url.startswith("https:"), arrivals=[] if streamed else None)
        wall = time.time()
        status: int | None = None
        headers: Any = {}
        body = b""
        error: tuple[ErrorType, str] | None = None
        token = _stamps.set(stamps)
        stamps.start = clock()
        try:
            async with asyncio.timeout(target.timeout):
                async with self._session(target.keep_alive).request(
                    request.method,
                    request.url,
                    headers=request.headers,
                    data=request.body,
                    allow_redirects=False,
                    trace_request_ctx=stamps,
                ) as response:
                    stamps.headers = clock()
                    _watch(response, stamps)
                    status, headers = response.status, response.headers
                    body, error = await self._read_body(response, streamed)
                    stamps.end = clock()
        except Exception as exc:  # noqa: BLE001 - every outcome is a record; EXCEPTIONS says which
            error = classify_exception(exc, target, stamps)
        finally:
            _stamps.reset(token)
        latency_ms = (stamps.finished() - stamps.start) * 1000
        record = CheckRecord(
            ts=wall,
            provider=target.provider,
            model=target.model,
            region=target.region,
            check=target.check,
            ok=False,
            http_status=status,
            error_type=None,
            latency_ms=latency_ms,
            phases=stamps.phases(),
            scheduled=scheduled,
        )
        if status is not None:
            record.ratelimit = wire.ratelimit(headers)
            if status == 429 or status == 503:
                record.retry_after = retry_after_seconds(headers)
        if streamed and status is not None and 200 <= status <= 299 and (error is None or error[0] is ErrorType.STREAM_INTERRUPTED):
            verdict = read_stream(wire, body, headers, stamps, record, cut=error)
        elif error is not None:
            record.error_type, record.error_message = error[0], short(error[1])
            if status is not None:
                record.request_id = request_id_from(headers)
            return record
        elif embeds:
            verdict = wire.judge_embeddings(Reply(status or 0, headers, body), target.dimensions)
        elif target.check == "tools":
            verdict = wire.judge_tools(Reply(status or 0, headers, body))
        else:
            verdict = wire.judge(Reply(status or 0, headers, body))
        record.ok = verdict.ok
        record.error_type = verdict.error_type
        # judge() passes what the upstream says through short(), which scrubs every registered secret (extra
        # header values included): a credential it echoes never reaches /api/checks or Postgres
        record.error_message = verdict.message
        record.request_id = verdict.request_id
        if record.retry_after is None and verdict.retry_after is not None:
            record.retry_after = verdict.retry_after  # e.g. Gemini's RetryInfo, when no Retry-After header came
        record.input_tokens = verdict.input_tokens
        record.output_tokens = verdict.output_tokens
        record.served_model = short(verdict.served_model)[:128] if verdict.served_model else None
        record.deprecation = deprecation_notice(status, headers, record.error_message)
        record.reasoning_exhausted = verdict.reasoning_exhausted
        if question is not None and verdict.ok and not record.reasoning_exhausted:  # a wrong answer is a quality signal, never a failure
            record.quality_score = quality.score(verdict.text, question.answer)
        record.cost_usd = cost_usd(target.price, verdict.input_tokens, verdict.output_tokens)
        return record

    async def _read_body(self, response: aiohttp.ClientResponse, streamed: bool = False) -> tuple[bytes, tuple[ErrorType, str] | None]:
        """The body under the cap. A stream whose connection breaks keeps what arrived (its events are read)."""
        cap = self.max_body_bytes
        if response.content_length is not None and response.content_length > cap:
            return b"", (ErrorType.INVALID_RESPONSE, f"body of {response.content_length} bytes is over the {cap}-byte cap")
        chunks: list[bytes] = []
        size = 0
        try:
            async for chunk in response.content.iter_any():
                size += len(chunk)
                if size > cap:
                    return b"", (ErrorType.INVALID_RESPONSE, f"body is over the {cap}-byte cap")
                chunks.append(chunk)
        except aiohttp.ClientPayloadError as exc:
            if not streamed or not 200 <= response.status <= 299:
                raise
            return b"".join(chunks), (ErrorType.STREAM_INTERRUPTED, f"the stream was cut off after {size} bytes: {_reason(exc)}")
        return b"".join(chunks), None


#: How an exception during a probe reads, by type, most specific first: (types, error type, message).
EXCEPTIONS: tuple[tuple[type[BaseException] | tuple[type[BaseException], ...], ErrorType, Any], ...] = (
    (TimeoutError, ErrorType.TIMEOUT,
     lambda exc, target, stamps: f"no complete response within {target.timeout:g}s; stalled in {stamps.stalled_in()}"),
    (aiohttp.ClientConnectorDNSError, ErrorType.DNS, lambda exc, *_: f"DNS lookup failed: {exc.os_error}"),
    ((aiohttp.ClientConnectorCertificateError, aiohttp.ClientConnectorSSLError, aiohttp.ClientSSLError), ErrorType.TLS,
     lambda exc, *_: f"TLS failed: {_reason(exc)}"),
    (aiohttp.ClientConnectorError, ErrorType.CONNECT, lambda exc, *_: f"connection failed: {_reason(exc)}"),
    ((aiohttp.ServerDisconnectedError, aiohttp.ClientPayloadError, aiohttp.ClientOSError), ErrorType.CONNECT,
     lambda exc, *_: f"connection lost: {_reason(exc)}"),
    (aiohttp.ClientResponseError, ErrorType.INVALID_RESPONSE, lambda exc, *_: f"malformed HTTP response: {exc.message}"),
    (ssl.SSLError, ErrorType.TLS, lambda exc, *_: f"TLS failed: {exc.reason or exc}"),
    (OSError, ErrorType.CONNECT, lambda exc, *_: f"connection failed: {exc.strerror or exc}"),
    (aiohttp.ClientError, ErrorType.OTHER, lambda exc, *_: f"{type(exc).__name__}: {exc}"),
)


def timed_chunks(body: bytes, arrivals: list[tuple[float, int]], last: float) -> Iterator[tuple[float, bytes]]:
    """The body in the pieces it arrived in, each with its arrival time (``arrivals``: when, bytes so far)."""
    done = 0
    for when, total in arrivals:
        if total > done:
            yield when, body[done:total]
            done = total
    if done < len(body):
        yield last, body[done:]


def read_stream(wire: WireFormat, body: bytes, headers: Any, stamps: Stamps, record: CheckRecord,
                cut: tuple[ErrorType, str] | None = None) -> Verdict:
    """Judge a streamed reply and time it. The body is read back in the pieces it arrived in, through an SSE
    parser (sseclient-py), so each event has the time its last byte came: time to the first content token
    (role-only, empty and keep-alive events don't count), output tokens per second after it, the longest gap
    between events after it. The stream must end the format's way, with a finish reason and usage; an error
    event inside it is that error; a cut-off or unreadable one is ``stream_interrupted``/``invalid_response``."""
    content_type = str(headers.get("Content-Type", "")).lower()
    if not content_type.startswith("text/event-stream"):
        return Verdict(False, ErrorType.INVALID_RESPONSE, f"a streamed call answered {content_type or 'no content type'}, not text/event-stream")
    now = [stamps.start]

    def source() -> Iterator[bytes]:
        for when, chunk in timed_chunks(body, stamps.arrivals or [], stamps.finished()):
            now[0] = when
            yield chunk

    first: float | None = None
    content_times: list[float] = []
    event_times: list[float] = []
    contents = 0
    finish = input_tokens = output_tokens = request_id = served_model = None
    ended = False
    verdict: Verdict | None = None
    try:
        for event in sseclient.SSEClient(source()).events():
            data = event.data.removesuffix("\n") if event.data else ""
            if not data:
                continue
            part = wire.read_event(event.event if event.event != "message" else "", data)
            event_times.append(now[0])
            request_id = request_id or part.request_id
            served_model = served_model or part.served_model
            if part.text:
                contents += 1
                content_times.append(now[0])
                first = first if first is not None else now[0]
            finish = part.finish or finish
            input_tokens = part.input_tokens if part.input_tokens is not None else input_tokens
            output_tokens = part.output_tokens if part.output_tokens is not None else output_tokens
            if part.error is not None:
                verdict = Verdict(False, part.error[0], f"error event in the stream: {part.error[1]}")
                break
            if part.end:
                ended = True
                break
    except (ValueError, UnicodeDecodeError) as exc:  # json.JSONDecodeError is a ValueError
        verdict = Verdict(False, ErrorType.INVALID_RESPONSE, f"malformed stream event: {exc}")
    if first is not None:
        # from the request sent, not from the call: DNS, TCP and TLS are phases of their own, so a cold
        # connection and a pooled one give the same figure, and the event-loop turns of setting up the
        # connection stay out of it (they were most of the measurement's error, bench/probe_engine.py)
        record.ttft_ms = (first - (stamps.sent if stamps.sent is not None else stamps.start)) * 1000
        after = [t for t in event_times if t >= first]
        if len(after) > 1:
            record.max_gap_ms = max(b - a for a, b in zip(after, after[1:])) * 1000
        tokens = output_tokens if output_tokens else contents
        span = content_times[-1] - first
        if tokens and tokens > 1 and span > 0:
            record.tokens_per_s = (tokens - 1) / span
    if verdict is None:
        if cut is not None:
            verdict = Verdict(False, cut[0], cut[1])
        elif not ended:
            verdict = Verdict(False, ErrorType.STREAM_INTERRUPTED, "the stream ended without its end event")
        elif finish is None:
            verdict = Verdict(False, ErrorType.STREAM_INTERRUPTED, "the stream ended without a finish reason")
        elif output_tokens is None:
            verdict = Verdict(False, ErrorType.STREAM_INTERRUPTED, "the stream ended without usage")
        else:
            verdict = Verdict(True)
    verdict.input_tokens, verdict.output_tokens = input_tokens, output_tokens if output_tokens is not None else (contents or None)
    if verdict.message:
        verdict.message = short(verdict.message)
    verdict.request_id = request_id_from(headers) or (short(request_id)[:128] if request_id else None)
    verdict.served_model = served_model
    return verdict


def classify_exception(exc: Exception, target: Target, stamps: Stamps) -> tuple[ErrorType, str]:
    """The record's error for an exception raised while probing. Anything not in EXCEPTIONS is a bug of ours
    or of the request we built (e.g. a header value with a line break): error type ``other``, logged."""
    for types, error_type, message in EXCEPTIONS:
        if isinstance(exc, types):
            return error_type, message(exc, target, stamps)
    log.warning("probe of %s raised %s: %s", target.id, type(exc).__name__, exc)  # the log filter scrubs it
    return ErrorType.OTHER, f"the probe could not be sent: {type(exc).__name__}: {exc}"  # short()-ened below


def _watch(response: aiohttp.ClientResponse, stamps: Stamps) -> None:
    """On a pooled (keep-alive) connection the protocol still points at the probe that opened it: from here
    on it stamps this probe (its first bytes were already in, so its TTFB comes from the headers stamp)."""
    protocol = response.connection.protocol if response.connection is not None else None
    if isinstance(protocol, _StampingHandler) and protocol.stamps is not stamps:
        protocol.stamps = stamps


def _reason(exc: BaseException) -> str:
    inner = getattr(exc, "os_error", None) or exc.__cause__ or exc
    if isinstance(inner, ssl.SSLCertVerificationError):
        return inner.verify_message or str(inner)
    if isinstance(inner, ssl.SSLError):
        return inner.reason or str(inner)
    if isinstance(inner, OSError) and inner.errno:
        return os.strerror(inner.errno)  # "Connection refused", not asyncio's "Connect call failed (…)"
    if isinstance(inner, OSError) and inner.strerror:
        return inner.strerror
    return str(inner) or type(inner).__name__
