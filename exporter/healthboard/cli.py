"""``healthboard serve | once | check-config | simulate | demo``."""

from __future__ import annotations

import argparse
import asyncio
import json
import logging
import os
import sys
from collections.abc import Sequence

from healthboard import __version__
from healthboard.config import format_duration
from healthboard.errors import ConfigError
from healthboard.logs import setup_logging
from healthboard.secrets import scrub

EXIT_OK, EXIT_FAILED, EXIT_CONFIG = 0, 1, 2


LOG_LEVELS = ["debug", "info", "warning", "error"]
LOG_FORMATS = ["text", "json"]


def _logging_options(parser: argparse.ArgumentParser, defaults: bool) -> None:
    """--log-level and --log-format, accepted before the command and after it (the later one wins)."""
    suppress = {} if defaults else {"default": argparse.SUPPRESS}
    parser.add_argument("--log-level", choices=LOG_LEVELS, help="default info; debug logs every failed probe",
                        **({"default": "info"} if defaults else suppress))
    parser.add_argument("--log-format", choices=LOG_FORMATS, help="text (default): one line per event; json: one JSON object per line",
                        **({"default": "text"} if defaults else suppress))


def _parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="healthboard", description="Synthetic monitor for LLM APIs.")
    parser.add_argument("--version", action="version", version=f"healthboard {__version__}")
    _logging_options(parser, defaults=True)
    common = argparse.ArgumentParser(add_help=False)
    _logging_options(common, defaults=False)
    sub = parser.add_subparsers(dest="command", required=True, metavar="COMMAND")
    add_parser = sub.add_parser

    def command(name: str, **kwargs: object) -> argparse.ArgumentParser:
        return add_parser(name, parents=[common], **kwargs)  # type: ignore[arg-type]

    sub.add_parser = command  # type: ignore[method-assign]

    serve = sub.add_parser("serve", help="probe on schedule and serve /metrics and the JSON API")
    serve.add_argument("--config", "-c", help="config file (default: the built-in default config)")
    serve.add_argument("--listen", help="HOST:PORT to serve on (default: the config's listen, 127.0.0.1:9464)")
    serve.add_argument("--loop", choices=["asyncio", "uvloop"], default="asyncio",
                       help="event loop (default asyncio's own; uvloop needs the 'fast' extra and measured no better, "
                            "see docs/PERFORMANCE.md)")

    once = sub.add_parser("once", help="probe every target once, print the results; exit 0 all ok, 1 any failed, 2 config error")
    once.add_argument("--config", "-c", help="config file (default: the built-in default config)")
    once.add_argument("--format", choices=["table", "json"], default="table", help="json: one JSON object per check per line")

    check = sub.add_parser("check-config", help="validate a config file without probing")
    check.add_argument("file")

    migrate = sub.add_parser("migrate", help="apply the sink's Postgres migrations (supabase-sink/migrations)")
    migrate.add_argument("--dsn-env", default="HEALTHBOARD_ADMIN_DSN",
                         help="environment variable holding an admin postgresql:// URL (default HEALTHBOARD_ADMIN_DSN)")
    migrate.add_argument("--login", action="append", default=[], metavar="ROLE=VARIABLE",
                         help="after migrating, let ROLE (healthboard_writer or healthboard_reader) log in with the password "
                              "in environment VARIABLE; repeatable")

    report = sub.add_parser("report", help="the monthly report from the sink's Postgres (reader role): availability, latency, incidents, cost")
    report.add_argument("--month", required=True, help="YYYY-MM, e.g. 2026-11 (UTC)")
    report.add_argument("--format", choices=["html", "csv", "json"], default="html")
    report.add_argument("--dsn-env", default="HEALTHBOARD_READER_DSN",
                        help="environment variable holding the healthboard_reader postgresql:// URL (default HEALTHBOARD_READER_DSN)")
    report.add_argument("--config", "-c", help="config file whose price table costs the probes (default: the built-in prices)")
    report.add_argument("--output", "-o", help="write to this file instead of standard output")

    simulate = sub.add_parser("simulate", help="run the local provider simulator")
    simulate.add_argument("--listen", default="127.0.0.1:8800", help="HOST:PORT (default 127.0.0.1:8800)")
    simulate.add_argument("--scenario", help="scenario file (default: every call succeeds); see docs/SIMULATOR.md")

    demo = sub.add_parser("demo", help="simulator with a scripted incident + exporter against it")
    demo.add_argument("--listen", default="127.0.0.1:9464", help="exporter HOST:PORT (default 127.0.0.1:9464)")
    demo.add_argument("--duration", type=float, default=0, help="stop after this many seconds (default: run until Ctrl-C)")
    return parser


def main(argv: Sequence[str] | None = None) -> int:
    args = _parser().parse_args(argv)
    setup_logging(args.log_level, args.log_format)
    try:
        return _dispatch(args)
    except ConfigError as exc:
        print(scrub(str(exc)), file=sys.stderr)
        return EXIT_CONFIG
    except KeyboardInterrupt:
        return 130
    except BrokenPipeError:
        # the reader went away (`healthboard once --format json | head -2`): that is not an error of ours;
        # point stdout at /dev/null so the interpreter's final flush doesn't raise again
        devnull = os.open(os.devnull, os.O_WRONLY)
        os.dup2(devnull, sys.stdout.fileno())
        return EXIT_OK


def _dispatch(args: argparse.Namespace) -> int:
    from healthboard.app import run as runtime

    if args.command == "check-config":
        return _check_config(args.file)
    if args.command == "serve":
        config, path = runtime.load(args.config)
        listen = args.listen or config.listen
        try:
            runtime.parse_listen(listen)
        except ValueError as exc:
            raise ConfigError("--listen", [(listen, str(exc))]) from None
        return runtime.run(runtime.serve(config, path, listen), args.loop)
    if args.command == "once":
        return _once(args)
    if args.command == "migrate":
        return _migrate(args.dsn_env, args.login)
    if args.command == "report":
        return _report(args)
    if args.command == "simulate":
        from healthboard.demo import simulate

        return asyncio.run(simulate(args.listen, args.scenario))
    if args.command == "demo":
        from healthboard.demo import demo

        return asyncio.run(demo(args.listen, args.duration))
    raise AssertionError(args.command)


def _check_config(path: str) -> int:
    from healthboard.config import load_config
    from healthboard.plan import build_plan, cost_by_check

    config = load_config(path)
    plan = build_plan(config, source=path)
    print(f"{path}: valid. region {config.region}, {len(config.providers)} providers, {len(plan.targets)} targets would be probed.")
    for target in plan.targets:
        print(f"  {target.id:<50} every {format_duration(target.interval)}, timeout {format_duration(target.timeout)}, {target.kind} wire format")
    for skipped in plan.skipped:
        print(f"  provider {skipped.provider}: would be skipped: {skipped.reason}")
    print(f"  estimated probe cost: ${plan.monthly_cost_usd:.2f}/month, adaptive re-checks included" + (f" (intervals stretched {plan.budget_factor:.2f}x by the budget)" if plan.budget_factor > 1 else ""))
    by_check = cost_by_check(plan)
    if len(by_check) > 1:
        print("    by check: " + ", ".join(f"{check} ${cost:.2f}" for check, cost in sorted(by_check.items())))
    if config.sink is not None:
        print(f"  sink: {'would fail: ' + plan.sink_problem.problems[0][1] if plan.sink_problem else 'DSN resolves'}; spool {config.sink.spool_dir}")
    for page in plan.status_pages:
        watched = ", ".join(page.components) or "every component"
        print(f"  status page of {page.provider}: {page.format} {page.url} ({watched}), every {format_duration(config.status.interval)}")
    return EXIT_OK


def _report(args: argparse.Namespace) -> int:
    import os

    import asyncpg

    from healthboard import report
    from healthboard.config import load_config
    from healthboard.secrets import Secret

    try:
        report.month_bounds(args.month)
    except ValueError as exc:
        raise ConfigError("--month", [(args.month, str(exc))]) from None
    dsn = os.environ.get(args.dsn_env)
    if not dsn:
        raise ConfigError(args.dsn_env, [("environment", f"set {args.dsn_env} to a postgresql:// URL for the healthboard_reader role (supabase-sink/README.md)")])
    Secret(dsn)
    prices = load_config(args.config).prices if args.config else None

    async def build() -> report.Report:
        pool = await report.connect(dsn)
        try:
            return await report.build(pool, args.month, prices)
        finally:
            await pool.close()

    try:
        text = report.render(asyncio.run(build()), args.format)
    except (OSError, asyncpg.PostgresError, asyncpg.InterfaceError) as exc:
        print(scrub(f"report failed: {type(exc).__name__}: {exc}"), file=sys.stderr)
        return EXIT_FAILED
    if args.output:
        with open(args.output, "w", encoding="utf-8") as handle:
            handle.write(text)
    else:
        sys.stdout.write(text)
    return EXIT_OK


def _migrate(variable: str, logins: list[str]) -> int:
    import os

    from healthboard.secrets import Secret
    from healthboard.sink.migrate import LOGIN_ROLES, migrate

    dsn = os.environ.get(variable)
    if not dsn:
        raise ConfigError(variable, [("environment", f"set {variable} to an admin postgresql:// URL (e.g. Supabase's postgres user, direct connection on port 5432)")])
    Secret(dsn)
    passwords: dict[str, Secret] = {}
    for item in logins:
        role, _, name = item.partition("=")
        if role not in LOGIN_ROLES or not name:
            raise ConfigError("--login", [(item, f"expected ROLE=VARIABLE with ROLE one of {', '.join(LOGIN_ROLES)}")])
        if not os.environ.get(name):
            raise ConfigError("--login", [(item, f"environment variable {name} is not set or empty: export the password for {role}")])
        passwords[role] = Secret(os.environ[name])
    import asyncpg

    try:
        applied = asyncio.run(migrate(dsn, passwords))
    except (OSError, asyncpg.PostgresError, asyncpg.InterfaceError) as exc:
        print(scrub(f"migration failed: {type(exc).__name__}: {exc}"), file=sys.stderr)
        return EXIT_FAILED
    print(f"applied: {', '.join(applied)}" if applied else "the schema is up to date")
    return EXIT_OK


def _once(args: argparse.Namespace) -> int:
    from healthboard.app import run as runtime
    from healthboard.app.exporter import plan_or_fail

    config, path = runtime.load(args.config)
    plan = plan_or_fail(config, path or "(built-in default config)")
    for skipped in plan.skipped:
        logging.getLogger("healthboard").warning("provider %s skipped: %s", skipped.provider, skipped.reason)
    records = asyncio.run(runtime.run_once(plan, config, source=path or "(built-in default config)"))
    if args.format == "json":
        for record in records:
            print(scrub(json.dumps(record.to_json(), separators=(",", ":"))))
    else:
        print(scrub(format_table(records)))
    return EXIT_OK if all(r.ok for r in records) else EXIT_FAILED


def format_table(records: Sequence["object"]) -> str:
    rows = [("PROVIDER", "MODEL", "OK", "HTTP", "ERROR", "LATENCY", "TOKENS", "REQUEST-ID", "MESSAGE")]
    for r in records:
        rows.append((
            r.provider, r.model, "ok" if r.ok else "FAIL", str(r.http_status or "-"), r.error_type.value if r.error_type else "-",
            f"{r.latency_ms:.0f}ms", f"{r.input_tokens or 0}/{r.output_tokens or 0}", r.request_id or "-", (r.error_message or "")[:70],
        ))
    widths = [max(len(row[i]) for row in rows) for i in range(len(rows[0]) - 1)]
    return "\n".join("  ".join(cell.ljust(w) for cell, w in zip(row, widths)) + "  " + row[-1] for row in rows).rstrip()
