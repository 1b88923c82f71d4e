"""The command line: `backpain-bot run | demo | simulate | health | backup` (or `python -m bot`)."""

from __future__ import annotations

import argparse
import asyncio
import logging
import sys
from pathlib import Path

from bot.settings import SettingsError, load_settings

log = logging.getLogger("bot")

NO_TOKEN = """\
No TELEGRAM_BOT_TOKEN is set, so the bot cannot talk to Telegram.

To get a token: open Telegram, start a chat with @BotFather, send /newbot, choose a name and a
username ending in "bot", and copy the token it gives you (it looks like 123456789:AAE...). Then:

    export TELEGRAM_BOT_TOKEN='123456789:AAE...'
    backpain-bot run

To see the bot at work without a token or a network, run:  backpain-bot demo
"""


STOPPED = ("The bot stopped: Telegram could not be reached, or it refused the token ({error}). "
           "Check the network, TELEGRAM_API_BASE_URL and TELEGRAM_BOT_TOKEN, then start it "
           "again; nothing queued is lost.")


def _run(args: argparse.Namespace) -> int:
    from telegram.error import TelegramError

    from bot.app import build_application, webhook_options
    from bot.clock import SystemClock
    from bot.logs import setup_logging
    from storage.db import AlreadyRunning, InstanceLock

    settings = load_settings(**({"DATABASE_PATH": Path(args.db)} if args.db else {}))
    if not settings.TELEGRAM_BOT_TOKEN:
        print(NO_TOKEN, file=sys.stderr)
        return 2
    setup_logging(settings.LOG_LEVEL,
                  secrets=(settings.TELEGRAM_BOT_TOKEN, settings.WEBHOOK_SECRET))
    lock = InstanceLock(settings.DATABASE_PATH)
    try:
        lock.acquire()
    except AlreadyRunning as exc:
        print(exc, file=sys.stderr)
        return 3
    try:
        app = build_application(settings, SystemClock())
        if settings.WEBHOOK_URL:
            log.info("starting webhook", extra={"port": settings.WEBHOOK_PORT})
            app.run_webhook(**webhook_options(settings))
        else:
            log.info("starting polling")
            app.run_polling()
    except TelegramError as exc:
        # Not the exception's text: a connection error may carry the request URL, token and all.
        log.error("stopped: Telegram unreachable or refused", extra={"error": type(exc).__name__})
        print(STOPPED.format(error=type(exc).__name__), file=sys.stderr)
        return 1
    finally:
        lock.release()
    return 0


def _demo(args: argparse.Namespace) -> int:
    from bot.simulator.demo import run_demo

    print(run_demo(days=args.days))
    return 0


def _simulate(args: argparse.Namespace) -> int:
    from bot.simulator.runner import Simulation
    from bot.simulator.scenario import ScenarioError, load_scenario

    try:
        scenario = load_scenario(args.scenario)
    except ScenarioError as exc:
        print(f"The scenario cannot be used: {exc}", file=sys.stderr)
        return 2
    if args.db and Path(args.db).exists():
        print(f"{args.db} already exists; the simulator writes a fresh database. "
              "Choose a new path or remove the file.", file=sys.stderr)
        return 2
    out = open(args.transcript, "w", encoding="utf-8") if args.transcript else sys.stdout
    try:
        lines = asyncio.run(Simulation(scenario, db_path=args.db, transcript=out).run())
    finally:
        if out is not sys.stdout:
            out.close()
    print(f"simulated {scenario.days} days, {len(scenario.patients)} patients, "
          f"{len(lines)} transcript lines", file=sys.stderr)
    return 0


def _health(args: argparse.Namespace) -> int:
    from storage.db import open_database

    settings = load_settings(**({"DATABASE_PATH": Path(args.db)} if args.db else {}))
    try:
        db = open_database(settings.DATABASE_PATH)
        status = db.execute("PRAGMA quick_check").fetchone()[0]
        pending = db.execute("SELECT count(*) FROM outbox WHERE status = 'pending'").fetchone()[0]
    except Exception as exc:  # noqa: BLE001 - a health check reports, it does not crash
        print(f"unhealthy: cannot open the database ({type(exc).__name__})", file=sys.stderr)
        return 1
    if status != "ok":
        print("unhealthy: the database failed its integrity check", file=sys.stderr)
        return 1
    print(f"ok: database readable, {pending} messages queued")
    return 0


def _backup(args: argparse.Namespace) -> int:
    from bot.backup import BackupError, backup

    settings = load_settings(**({"DATABASE_PATH": Path(args.db)} if args.db else {}))
    try:
        result = backup(settings.DATABASE_PATH, Path(args.out), force=args.force)
    except BackupError as exc:
        print(f"backup failed: {exc}", file=sys.stderr)
        return exc.exit_code
    print(result.summary())
    return 0


def parser() -> argparse.ArgumentParser:
    p = argparse.ArgumentParser(prog="backpain-bot", description=__doc__)
    sub = p.add_subparsers(dest="command", required=True, metavar="COMMAND")
    run = sub.add_parser("run", help="run the bot (polling, or webhook when WEBHOOK_URL is set)")
    run.add_argument("--db", help="database file (default: DATABASE_PATH)")
    run.set_defaults(func=_run)
    demo = sub.add_parser("demo", help="show a simulated patient's first days; no token needed")
    demo.add_argument("--days", type=int, default=3, help="how many days to show (default 3)")
    demo.set_defaults(func=_demo)
    sim = sub.add_parser("simulate", help="run a scenario file on a virtual clock")
    sim.add_argument("--scenario", required=True, help="YAML or JSON scenario (docs/simulation.md)")
    sim.add_argument("--db", help="write the simulated database here (default: in memory)")
    sim.add_argument("--transcript", help="write JSON lines here (default: standard output)")
    sim.set_defaults(func=_simulate)
    health = sub.add_parser("health", help="check that the database opens and is intact")
    health.add_argument("--db", help="database file (default: DATABASE_PATH)")
    health.set_defaults(func=_health)
    back = sub.add_parser("backup", help="copy the database safely, even while the bot runs")
    back.add_argument("--out", required=True, help="the backup file to write (must not exist)")
    back.add_argument("--db", help="database file (default: DATABASE_PATH)")
    back.add_argument("--force", action="store_true", help="replace --out if it exists")
    back.set_defaults(func=_backup)
    return p


def main(argv: list[str] | None = None) -> int:
    args = parser().parse_args(argv)
    try:
        return args.func(args)
    except SettingsError as exc:
        print(f"Configuration problem: {exc}", file=sys.stderr)
        return 2
    except KeyboardInterrupt:
        return 130


if __name__ == "__main__":
    sys.exit(main())
