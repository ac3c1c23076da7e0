"""The simulator: one aiohttp server speaking every supported wire format, scripted by a scenario."""

from __future__ import annotations

import asyncio
import collections
import contextlib
import contextvars
import datetime as dt
import email.utils
import json
import logging
import random
import socket
import struct
import time
from collections import Counter
from collections.abc import AsyncIterator
from typing import Any

from aiohttp import web

from healthboard.errors import ConfigError
from healthboard.quality import answer_for
from healthboard.simulator import status
from healthboard.simulator.scenario import STREAM_FAULTS, Latency, Rule, Scenario, parse_scenario
from healthboard.simulator.wire import SIM_WIRES, Call, Rejected, Reply, SimWire
from healthboard.simulator.wire.base import dimensions_of, embedding

log = logging.getLogger(__name__)


SPIN = 0.0015


async def hold(seconds: float) -> None:
    """Wait ``seconds`` to within ~0.1 ms. asyncio's timers wake up to 1 ms late (epoll's millisecond
    timeout, rounded up), which would count as the prober's overhead in bench/probe_engine.py; so sleep to
    just short of the deadline, then yield to the loop until it passes (at most ~1.5 ms of spinning)."""
    deadline = time.perf_counter() + seconds
    if seconds > SPIN:
        await asyncio.sleep(seconds - SPIN)
    while time.perf_counter() < deadline:
        await asyncio.sleep(0)


class Simulator:
    def __init__(self, scenario: Scenario | None = None) -> None:
        self.load(scenario or Scenario())
        self.requests: Counter[tuple[str, str, str]] = Counter()  # (kind, model, outcome)
        self.stream_stamps: collections.deque[dict[str, Any]] = collections.deque(maxlen=100_000)  # /_sim/streams

    def load(self, scenario: Scenario) -> None:
        self.scenario = scenario
        self.rng = random.Random(scenario.seed)
        self.started = time.monotonic()
        self.started_wall = time.time()
        self._positions: Counter[tuple[int, str, str]] = Counter()

    def elapsed(self) -> float:
        return time.monotonic() - self.started

    def _rule(self, kind: str, model: str, prefix: str | None) -> tuple[int, Rule] | None:
        elapsed = self.elapsed()
        found = None
        for index, rule in enumerate(self.scenario.rules):
            if rule.active(elapsed) and rule.match.matches(kind, model, prefix):
                found = (index, rule)  # the last matching rule wins
        return found

    def decide(self, kind: str, model: str, prefix: str | None) -> tuple[str, Latency, Rule | None]:
        found = self._rule(kind, model, prefix)
        if found is None:
            return "ok", self.scenario.latency, None
        index, rule = found
        latency = rule.latency or self.scenario.latency
        if rule.sequence:
            position = self._positions[(index, kind, model)]
            self._positions[(index, kind, model)] += 1
            return rule.sequence[position % len(rule.sequence)], latency, rule
        draw, total = self.rng.random(), 0.0
        for fault, probability in rule.faults.items():
            total += probability
            if draw < total:
                return fault, latency, rule
        return "ok", latency, rule

    def app(self) -> web.Application:
        app = web.Application(client_max_size=4 * 1024 * 1024)
        for wire in SIM_WIRES:
            for path in wire.paths:
                app.router.add_post(path, self._handler(wire))
        app.router.add_get("/status/{page}/{path:.*}", self._status_page)
        app.router.add_get(r"/v1/models/{model:.+}", self._openai_model)
        app.router.add_get(r"/{prefix}/v1/models/{model:.+}", self._openai_model)
        app.router.add_get("/_sim/health", self._health)
        app.router.add_get("/_sim/requests", self._stats)
        app.router.add_get("/_sim/streams", self._streams)
        app.router.add_put("/_sim/scenario", self._put_scenario)
        return app

    async def _openai_model(self, request: web.Request) -> web.Response:
        """OpenAI's Retrieve model (GET /v1/models/{model}): the model object, with ``shutdown_date`` (YYYY-MM-DD)
        when a rule announces the model's retirement (``sunset``), as OpenAI documents for monitoring shutdowns."""
        wire = next(w for w in SIM_WIRES if w.kind == "openai")
        key = wire.key_of(request)
        if key is None or not self.scenario.accepts_key("openai", key):
            return self._send(wire.reject_key(key, "openai"), wire, "openai")
        model = request.match_info["model"]
        known = self.scenario.known_models("openai")
        if (known is not None and model not in known) or self.scenario.is_retired(model):
            return self._send(Reply(404, {"error": {"message": f"The model '{model}' does not exist", "type": "invalid_request_error",
                                                    "param": "model", "code": "model_not_found"}}), wire, "openai")
        found = self._rule("openai", model, request.match_info.get("prefix"))
        body: dict[str, Any] = {"id": model, "object": "model", "created": 1_715_367_049, "owned_by": "system"}
        if found is not None and found[1].sunset is not None:
            body["shutdown_date"] = found[1].sunset.isoformat()
        return self._send(Reply(200, body), wire, "openai")

    async def _health(self, request: web.Request) -> web.Response:
        return web.json_response({"status": "ok", "elapsed": self.elapsed()})

    async def _status_page(self, request: web.Request) -> web.Response:
        key = request.match_info["page"]
        script = self.scenario.status_pages.get(key)
        if script is None:
            return web.json_response({"error": "Not found"}, status=404)
        return await status.serve(status.StatusPageView(key, script, self.started_wall, self.elapsed()), request.match_info["path"])

    async def _stats(self, request: web.Request) -> web.Response:
        rows = [{"kind": k, "model": m, "outcome": o, "count": c} for (k, m, o), c in sorted(self.requests.items())]
        return web.json_response({"elapsed": self.elapsed(), "requests": rows})

    async def _streams(self, request: web.Request) -> web.Response:
        """When the simulator sent each recent stream's pieces (its own clock, seconds): the ground truth that
        bench/probe_engine.py compares the exporter's time to first token and tokens/s against."""
        return web.json_response({"streams": list(self.stream_stamps)})

    async def _put_scenario(self, request: web.Request) -> web.Response:
        try:
            self.load(parse_scenario(await request.text(), "request body"))
        except ConfigError as exc:
            return web.json_response({"error": str(exc)}, status=400)
        return web.json_response({"status": "loaded", "rules": len(self.scenario.rules)})

    def _handler(self, wire: SimWire):
        async def handle(request: web.Request) -> web.StreamResponse:
            return await self._handle(request, wire)

        return handle

    async def _handle(self, request: web.Request, wire: SimWire) -> web.StreamResponse:
        request[_RECEIVED] = time.monotonic()
        key = wire.key_of(request)
        kind_hint = "azure-openai" if "deployment" in request.match_info else wire.kind
        if key is None or not self.scenario.accepts_key(kind_hint, key):
            return self._send(wire.reject_key(key, kind_hint), wire, kind_hint)
        try:
            call = await wire.validate(request, self.scenario.known_models(kind_hint))
            if self.scenario.is_retired(call.model):
                call.key = key
                raise Rejected(wire.retired(call))
        except Rejected as rejected:
            return self._send(rejected.reply, wire, kind_hint)
        call.key = key
        prefix = request.match_info.get("prefix")
        outcome, latency, rule = self.decide(call.kind, call.model, prefix)
        if rule is not None and rule.sunset is not None:  # this request's task only (a contextvar)
            when = email.utils.format_datetime(dt.datetime.combine(rule.sunset, dt.time(), dt.timezone.utc), usegmt=True)
            _SUNSET.set({"Deprecation": f"@{int(time.time()) - 86400}", "Sunset": when})
        self.requests[(call.kind, call.model, outcome)] += 1
        await hold(latency.sample(self.rng))
        return await self._answer(request, wire, call, outcome, rule)

    async def _answer(self, request: web.Request, wire: SimWire, call: Call, outcome: str, rule: Rule | None) -> web.StreamResponse:
        if rule is not None and rule.serve_model:
            call.model = rule.serve_model
        hang_for = rule.hang_for if rule else 60.0
        if outcome == "hang":
            await asyncio.sleep(hang_for)  # bounded; cancelled when the client gives up
            return self._send(wire.fault("server_error", call, 0), wire)
        if outcome == "reset":
            _reset(request)
            raise asyncio.CancelledError  # aiohttp drops the (already aborted) connection quietly
        if outcome == "malformed_json":
            return self._send(Reply(200, b'{"id": "truncated", "choices": [{"message": {"content": "po'), wire)
        if outcome == "oversized":
            # 2 MiB of valid JSON whatever the model (a reasoning model's reply carries no text): trailing
            # whitespace is allowed after a JSON value
            reply = wire.success(call, "x" * (2 * 1024 * 1024))
            encoded = reply.encode()
            return self._send(Reply(reply.status, encoded + b" " * max(0, 2 * 1024 * 1024 - len(encoded)), reply.headers), wire, call.kind)
        if outcome == "trickle":
            return await self._trickle(request, wire.success(call, self.scenario.reply_text), wire, rule)
        if call.operation == "embed" and (outcome in ("ok", "empty", "wrong_answer", "bad_embedding") or outcome in STREAM_FAULTS):
            size = dimensions_of(call)
            vectors = [[0.0] * size if outcome == "bad_embedding" else embedding(text, size) for text in call.inputs]
            return self._send(wire.embed_success(call, vectors), wire, call.kind)
        tool = wire.tool_name(call) if call.operation == "chat" and not call.stream else None
        if tool and (outcome in ("ok", "empty", "wrong_answer", "bad_tool_args", "bad_embedding") or outcome in STREAM_FAULTS):
            arguments = '{"city": "Par' if outcome == "bad_tool_args" else json.dumps({"city": "Paris"})
            return self._send(wire.tool_success(call, tool, arguments), wire, call.kind)
        text = {"empty": "", "wrong_answer": self.scenario.wrong_text}.get(outcome) if outcome in ("empty", "wrong_answer") else (
            answer_for(call.prompt) or self.scenario.reply_text)  # the built-in quality questions get their right answer
        if call.stream and (outcome in ("ok", "empty", "wrong_answer") or outcome in STREAM_FAULTS):
            return await self._stream(request, wire, call, outcome, text, rule)
        if outcome in ("ok", "empty", "wrong_answer", "bad_embedding", "bad_tool_args") or outcome in STREAM_FAULTS:
            return self._send(wire.success(call, text), wire, call.kind)
        return self._send(wire.fault(outcome, call, rule.retry_after if rule else 2.0), wire, call.kind)

    async def _stream(self, request: web.Request, wire: SimWire, call: Call, outcome: str, text: str, rule: Rule | None) -> web.StreamResponse:
        """A streamed answer in the wire's documented events: the head, the first token after ``first_token``, one
        token every ``chunk_interval``, the tail (finish reason, usage, end marker). A stream fault strikes halfway."""
        settings = self.scenario.stream
        first_token = (rule.first_token if rule and rule.first_token else settings.first_token).sample(self.rng)
        interval = rule.chunk_interval if rule and rule.chunk_interval is not None else settings.chunk_interval
        pieces = stream_pieces(text, min(call.max_tokens, settings.tokens))
        headers = wire.headers_for(Reply(200, {}), call.kind)
        headers.update({"content-type": "text/event-stream; charset=utf-8", "cache-control": "no-cache"})
        headers.update(_SUNSET.get() or {})  # a retiring model's streams announce it too
        response = web.StreamResponse(status=200, headers=headers)
        await response.prepare(request)
        for frame in wire.stream_head(call):
            await response.write(frame)
        await hold(first_token)
        sent: list[float] = []
        halfway = max(1, len(pieces) // 2)
        for index, piece in enumerate(pieces):
            if index == halfway and outcome in STREAM_FAULTS:
                if outcome == "stream_stall":
                    await asyncio.sleep(rule.hang_for if rule else 60.0)  # bounded; cancelled when the client gives up
                elif outcome == "stream_error":
                    await response.write(wire.stream_error(call))
                    await response.write_eof()
                    return response
                else:  # stream_cut: the connection closes mid-answer, the chunked body never ends
                    if request.transport is not None:
                        request.transport.close()
                    raise asyncio.CancelledError
            if index:
                await hold(interval)
            await response.write(wire.stream_delta(call, piece, index))
            sent.append(time.monotonic())
        for frame in wire.stream_tail(call, len(pieces), "length" if len(pieces) >= call.max_tokens else "stop"):
            await response.write(frame)
        await response.write_eof()
        if sent:
            ids = [v for k, v in headers.items() if k.lower() in ("x-request-id", "request-id", "x-goog-request-id", "x-trace-id")]
            self.stream_stamps.append({"request_id": ids[0] if ids else None, "model": call.model, "tokens": len(sent),
                                       "ttft": sent[0] - request[_RECEIVED], "first": sent[0], "last": sent[-1],
                                       "max_gap": max((b - a for a, b in zip(sent, sent[1:])), default=0.0)})
        return response

    def _send(self, reply: Reply, wire: SimWire, kind: str | None = None) -> web.Response:
        headers = wire.headers_for(reply, kind or wire.kind)
        sunset = _SUNSET.get()
        if sunset is not None:  # a rule announcing the model's retirement (RFC 9745 Deprecation, RFC 8594 Sunset)
            headers.update(sunset)
        headers.setdefault("content-type", "application/json")
        return web.Response(status=reply.status, body=reply.encode(), headers=headers)

    async def _trickle(self, request: web.Request, reply: Reply, wire: SimWire, rule: Rule | None) -> web.StreamResponse:
        body = reply.encode()
        interval = rule.trickle_interval if rule else 0.5
        limit = rule.hang_for if rule else 60.0
        response = web.StreamResponse(status=reply.status, headers={**wire.common_headers(), "content-type": "application/json"})
        response.content_length = len(body)
        await response.prepare(request)
        deadline = time.monotonic() + limit
        for i in range(len(body)):
            await response.write(body[i : i + 1])
            if time.monotonic() > deadline:
                break
            await asyncio.sleep(interval)
        await response.write_eof()
        return response


_RECEIVED: web.RequestKey[float] = web.RequestKey("sim_received", float)  # when the request came in (monotonic)
_SUNSET: contextvars.ContextVar[dict[str, str] | None] = contextvars.ContextVar("sim_sunset", default=None)

#: Words a streamed answer goes on with after the scripted reply text, one token each.
_FILLER = ("the", "quick", "brown", "fox", "jumps", "over", "a", "lazy", "dog", "while", "probes", "keep", "time")


def stream_pieces(text: str, tokens: int) -> list[str]:
    """``tokens`` content tokens: the reply text's words, then filler words, each after a space but the first.
    An empty text streams no content token (an empty answer)."""
    if not text:
        return []
    words = text.split() or [text]
    while len(words) < tokens:
        words.append(_FILLER[len(words) % len(_FILLER)])
    words = words[:tokens]
    return [words[0], *(" " + w for w in words[1:])]


def _reset(request: web.Request) -> None:
    """Abort the connection with a TCP RST, as a crashing load balancer would."""
    transport = request.transport
    if transport is None:
        return
    sock = transport.get_extra_info("socket")
    if sock is not None:
        with contextlib.suppress(OSError):
            sock.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, struct.pack("ii", 1, 0))
    transport.abort()


@contextlib.asynccontextmanager
async def running_simulator(scenario: Scenario | None = None, host: str = "127.0.0.1", port: int = 0) -> AsyncIterator[tuple[Simulator, str]]:
    """Start a simulator; yield (simulator, base URL such as http://127.0.0.1:40123)."""
    simulator = Simulator(scenario)
    runner = web.AppRunner(simulator.app(), handler_cancellation=True, shutdown_timeout=1.0, access_log=None)
    await runner.setup()
    site = web.TCPSite(runner, host, port)
    await site.start()
    sockets = site._server.sockets if site._server else []  # type: ignore[union-attr]
    actual = sockets[0].getsockname()[1] if sockets else port
    try:
        yield simulator, f"http://{host}:{actual}"
    finally:
        await runner.cleanup()

