"""The command line: `backpain-bot run | demo | simulate | health | backup | clinic | export`
(or `python -m bot`)."""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import logging
import sys
from datetime import date
from pathlib import Path
from typing import Any

from bot.settings import SettingsError, load_settings

log = logging.getLogger("bot")

NO_TOKEN = """\
No TELEGRAM_BOT_TOKEN is set, so the bot cannot talk to Telegram.

To get a token: open Telegram, start a chat with @BotFather, send /newbot, choose a name and a
username ending in "bot", and copy the token it gives you (it looks like 123456789:AAE...). Then:

    export TELEGRAM_BOT_TOKEN='123456789:AAE...'
    backpain-bot run

To see the bot at work without a token or a network, run:  backpain-bot demo
"""  # noqa: S105 - help text, not a token


STOPPED = (
    "The bot stopped: Telegram could not be reached, or it refused the token ({error}). "
    "Check the network, TELEGRAM_API_BASE_URL and TELEGRAM_BOT_TOKEN, then start it "
    "again; nothing queued is lost."
)


def _db_override(args: argparse.Namespace) -> dict[str, Any]:
    """`--db PATH` as a settings override (none without it)."""
    db = getattr(args, "db", None)
    return {"DATABASE_PATH": Path(db)} if db else {}


NO_DATABASE = (
    "There is no database at {path}. Check --db (or DATABASE_PATH): a mistyped path would "
    "start an empty one. Only `backpain-bot run` and the first `backpain-bot clinic create` "
    "create a database."
)


def _existing_database(settings) -> bool:
    """False (and says why) when the database file is missing: only `run` and the first
    `clinic create` may create one, so a mistyped --db never silently starts an empty one."""
    if Path(settings.DATABASE_PATH).exists():
        return True
    print(NO_DATABASE.format(path=settings.DATABASE_PATH), file=sys.stderr)
    return False


def _run(args: argparse.Namespace) -> int:
    from telegram.error import TelegramError

    from bot.app import build_application
    from bot.clock import SystemClock
    from bot.inbound import serve
    from bot.logs import setup_logging
    from storage.db import AlreadyRunning, InstanceLock

    settings = load_settings(**_db_override(args))
    if not settings.TELEGRAM_BOT_TOKEN:
        print(NO_TOKEN, file=sys.stderr)
        return 2
    setup_logging(
        settings.LOG_LEVEL, secrets=(settings.TELEGRAM_BOT_TOKEN, settings.WEBHOOK_SECRET)
    )
    lock = InstanceLock(settings.DATABASE_PATH)
    try:
        lock.acquire()
    except AlreadyRunning as exc:
        print(exc, file=sys.stderr)
        return 3
    try:
        # No PTB Updater: bot.inbound stores every update in the inbox before Telegram is told it
        # arrived, handles it from there, and runs the sender and the ticks (docs/architecture.md).
        app = build_application(settings, SystemClock(), schedule_ticks=False, updater=False)
        if settings.WEBHOOK_URL:
            log.info("starting webhook", extra={"port": settings.WEBHOOK_PORT})
        else:
            log.info("starting polling")
        asyncio.run(serve(app, settings))
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
        print(
            f"{args.db} already exists; the simulator writes a fresh database. "
            "Choose a new path or remove the file.",
            file=sys.stderr,
        )
        return 2
    with (
        open(args.transcript, "w", encoding="utf-8")
        if args.transcript
        else contextlib.nullcontext(sys.stdout)
    ) as out:
        lines = asyncio.run(Simulation(scenario, db_path=args.db, transcript=out).run())
    print(
        f"simulated {scenario.days} days, {len(scenario.patients)} patients, "
        f"{len(lines)} transcript lines",
        file=sys.stderr,
    )
    return 0


def _health(args: argparse.Namespace) -> int:
    from bot.clock import SystemClock
    from bot.health import check

    settings = load_settings(**_db_override(args))
    checks = check(
        settings.DATABASE_PATH,
        settings,
        SystemClock().now(),
        liveness=not args.no_liveness,
        full=args.full,
    )
    for item in checks:
        print(item)
    healthy = all(item.ok for item in checks)
    print("healthy" if healthy else "unhealthy")
    return 0 if healthy else 1


def _backup(args: argparse.Namespace) -> int:
    from bot.backup import BackupError, backup

    settings = load_settings(**_db_override(args))
    try:
        result = backup(settings.DATABASE_PATH, Path(args.out), force=args.force)
    except BackupError as exc:
        print(f"backup failed: {exc}", file=sys.stderr)
        return exc.exit_code
    print(result.summary())
    return 0


def _bot_username(settings) -> str | None:
    """For deep links: TELEGRAM_BOT_USERNAME, else ask Telegram (getMe) when a token is set."""
    if settings.TELEGRAM_BOT_USERNAME:
        return settings.TELEGRAM_BOT_USERNAME.lstrip("@")
    if not settings.TELEGRAM_BOT_TOKEN:
        return None
    from telegram import Bot
    from telegram.error import TelegramError

    async def ask() -> str:
        async with Bot(settings.TELEGRAM_BOT_TOKEN, base_url=settings.TELEGRAM_API_BASE_URL) as bot:
            return bot.username

    try:
        return asyncio.run(ask())
    except TelegramError:
        return None


NO_USERNAME = (
    "I need the bot's username for the link. Set TELEGRAM_BOT_USERNAME (e.g. "
    "export TELEGRAM_BOT_USERNAME=my_back_bot), or set TELEGRAM_BOT_TOKEN while "
    "Telegram can be reached. Nothing was changed."
)


def _clinic_ref(db, args: argparse.Namespace) -> dict | None:
    """The clinic named by `--id N`, `#N`, or its name (a bare number only if no clinic is called
    that); None, with the reason printed, otherwise."""
    from storage import clinics

    if getattr(args, "id", None) is not None:
        found = clinics.clinic(db, args.id)
        ref = f"#{args.id}"
    elif getattr(args, "clinic", None):
        if clinics.ambiguous_ref(db, args.clinic):
            print(
                f"{args.clinic!r} is both a clinic's name and another clinic's number: write "
                f"#{args.clinic.strip()} (or --id {args.clinic.strip()}) for the number, or use "
                "the name in full.",
                file=sys.stderr,
            )
            return None
        found, ref = clinics.clinic_by_ref(db, args.clinic), args.clinic
    else:
        print("Name the clinic: its name, #NUMBER or --id NUMBER.", file=sys.stderr)
        return None
    if found is None:
        print(f"No clinic {ref!r} (see: backpain-bot clinic list).", file=sys.stderr)
    return found


def _clinic(args: argparse.Namespace) -> int:
    from bot.clock import SystemClock
    from handlers.clinic import CLINICIAN_PREFIX, deep_link
    from storage import clinics, events
    from storage.db import open_database

    settings = load_settings(**_db_override(args))
    creating = args.clinic_command == "create"
    if not creating and not _existing_database(settings):
        return 2
    now = SystemClock().now()
    name = ""
    if creating:
        cleaned = clinics.clean_clinic_name(args.name)
        if cleaned is None:
            print(
                f"A clinic's name needs 1 to {clinics.CLINIC_NAME_MAX} characters "
                "(spaces at the ends do not count).",
                file=sys.stderr,
            )
            return 2
        name = cleaned
        try:
            from bot.rules.localtime import zone

            zone(args.timezone)
        except ValueError:
            print(
                f"Unknown time zone {args.timezone!r}: use a name like Europe/London.",
                file=sys.stderr,
            )
            return 2
    username = None
    if args.clinic_command in ("create", "invite"):
        username = _bot_username(settings)
        if username is None:
            print(NO_USERNAME, file=sys.stderr)
            return 2
    if creating and not Path(settings.DATABASE_PATH).exists():
        print(f"No database at {settings.DATABASE_PATH} yet: creating a new one.")
    db = open_database(settings.DATABASE_PATH)
    if args.clinic_command == "list":
        rows = clinics.all_clinics(db)
        if not rows:
            print("No clinics yet: backpain-bot clinic create NAME")
        for c in rows:
            print(
                f"{c['id']}: {c['name']} ({c['timezone']}): {c['clinicians']} clinician(s), "
                f"{c['cohorts']} cohort(s), {c['patients']} patient(s)"
            )
            for k in clinics.clinicians_of(db, c["id"], active_only=False):
                state = f"removed {k['removed_at'][:10]}" if k["removed_at"] else "active"
                print(
                    f"    clinician {k['id']}: {k['first_name'] or '(no name)'}, "
                    f"joined {k['joined_at'][:10]}, {state}"
                )
        return 0
    if args.clinic_command == "invites":
        place = None
        if args.clinic is not None or args.id is not None:
            place = _clinic_ref(db, args)
            if place is None:
                return 1
        open_ones = clinics.clinic_invites(db, now, place["id"] if place else None)
        if not open_ones:
            print("No unused clinician invites.")
        for i in open_ones:
            opened = ", opened by someone" if i["opened"] else ""
            print(
                f"invite {i['id']}: {i['clinic_name']} (clinic {i['clinic_id']}), made "
                f"{i['created_at'][:16]}, valid until {i['expires_at'][:16]}{opened}"
            )
        return 0
    if args.clinic_command == "revoke-invite":
        with db.atomic():
            revoked = clinics.revoke_clinic_invite(db, args.invite, now)
            if revoked:
                events.record(db, now, "clinician_invite_revoked", None, invite=args.invite)
        if not revoked:
            print(
                f"No unused clinician invite {args.invite} (see: backpain-bot clinic invites).",
                file=sys.stderr,
            )
            return 1
        print(f"Revoked invite {args.invite}: its link no longer works.")
        return 0
    if args.clinic_command == "remove-clinician":
        staff = clinics.clinician(db, args.clinician)
        blocked = clinics.removal_blocked(db, args.clinician)
        if staff is not None and blocked:
            place = clinics.clinic(db, staff["clinic_id"]) or {"name": "?", "id": "?"}
            print(
                f"Clinician {args.clinician} is the last active clinician of {place['name']}, "
                f"which has {blocked} patient(s) sharing with it: nobody would see their alerts. "
                f"Invite another clinician first (backpain-bot clinic invite --id {place['id']}), "
                "then remove this one.",
                file=sys.stderr,
            )
            return 1
        with db.atomic():
            waiting = clinics.clinic_invites(db, now, staff["clinic_id"]) if staff else []
            removed = staff is not None and clinics.remove_clinician(db, args.clinician, now)
            if staff is not None and removed:
                events.record(
                    db,
                    now,
                    "clinician_removed",
                    None,
                    clinician=args.clinician,
                    clinic=staff["clinic_id"],
                    invites_revoked=len(waiting),
                )
        if not removed:
            print(
                f"No active clinician {args.clinician} (see: backpain-bot clinic list).",
                file=sys.stderr,
            )
            return 1
        print(f"Removed clinician {args.clinician}: their access ended now.")
        if waiting:
            print(f"Revoked {len(waiting)} unused clinician invite(s) of that clinic.")
        return 0
    # create / invite: both print a single-use clinician invite link
    with db.atomic():
        if creating:
            existing = clinics.clinic_by_name(db, name)
            if existing is not None:
                print(
                    f"A clinic called {existing['name']!r} exists already (clinic "
                    f"{existing['id']}; names are compared ignoring case). "
                    "backpain-bot clinic invite adds a clinician.",
                    file=sys.stderr,
                )
                return 1
            clinic_id = clinics.create_clinic(db, name, args.timezone, now)
            events.record(db, now, "clinic_created", None, clinic=clinic_id)
            print(f"Created clinic {clinic_id}: {name} ({args.timezone}).")
        else:
            found = _clinic_ref(db, args)
            if found is None:
                return 1
            clinic_id = found["id"]
        invite_id, code = clinics.invite_clinician(db, clinic_id, now)
        events.record(db, now, "clinician_invited", None, clinic=clinic_id, invite=invite_id)
    print("Clinician invite (single use, valid 7 days; send it to one clinician):")
    print(deep_link(username or "", CLINICIAN_PREFIX, code))
    return 0


def _local_date(text: str) -> date:
    """--since / --until: a date as YYYY-MM-DD (argparse says which one is wrong)."""
    try:
        return date.fromisoformat(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"{text!r} is not a date like 2026-03-01") from None


def _export_files(db, cohort: dict, now, args: argparse.Namespace) -> list[tuple[str, bytes]]:
    """What `export` writes: the two CSV files, the research files, or one FHIR Bundle."""
    if args.format == "csv":
        from jobs.clinic import export_files

        return export_files(db, cohort, now)
    from jobs import research

    made = research.build(
        db, cohort, now, with_names=args.with_names, since=args.since, until=args.until
    )
    if args.format == "fhir":
        from bot.fhir import bundle_json

        return [("", bundle_json(made))]
    return [*research.export_files(made), ("data-dictionary.md", research.dictionary().encode())]


def _export(args: argparse.Namespace) -> int:
    from bot.clock import SystemClock
    from storage import clinics, events
    from storage.db import open_database, private_folder, write_private

    settings = load_settings(**_db_override(args))
    if not _existing_database(settings):
        return 2
    if args.format == "csv" and (args.with_names or args.since or args.until):
        print(
            "--with-names, --since and --until go with --format research or fhir.", file=sys.stderr
        )
        return 2
    if args.since and args.until and args.since > args.until:
        print("--since is after --until: nothing would be exported.", file=sys.stderr)
        return 2
    db = open_database(settings.DATABASE_PATH)
    cohort = clinics.cohort(db, args.cohort)
    if cohort is None:
        print(f"No cohort {args.cohort}.", file=sys.stderr)
        return 1
    out = Path(args.out)
    single = args.format == "fhir"
    if single and out.is_dir():
        print(f"{out} is a folder; with --format fhir, --out names the file.", file=sys.stderr)
        return 2
    if not single and out.exists() and not out.is_dir():
        print(f"{out} is a file; --out names a folder for the CSV files.", file=sys.stderr)
        return 2
    now = SystemClock().now()
    files = [
        (out if single else out / name, data) for name, data in _export_files(db, cohort, now, args)
    ]
    taken = [path for path, _ in files if path.exists()]
    if taken and not args.force:
        print(
            f"{', '.join(str(t) for t in taken)} exists already; add --force to replace it, or "
            f"choose another --out {'file' if single else 'folder'}.",
            file=sys.stderr,
        )
        return 2
    try:
        private_folder(out.parent if single else out)  # health data: a new folder is 0700
        for path, data in files:
            write_private(path, data)  # each file 0600
            print(path)
    except OSError as exc:
        print(f"Could not write the export to {out}: {exc.strerror or exc}.", file=sys.stderr)
        return 1
    events.record(
        db, now, "cohort_exported", None, cohort=cohort["id"], by="command_line", format=args.format
    )
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
    health = sub.add_parser(
        "health",
        help="check the database (read-only) and that the ticks run; exit 1 if anything is wrong",
    )
    health.add_argument("--db", help="database file (default: DATABASE_PATH)")
    health.add_argument(
        "--no-liveness",
        action="store_true",
        help="skip the tick check (a stopped bot's database, a backup)",
    )
    health.add_argument(
        "--full",
        action="store_true",
        help="SQLite's full integrity_check instead of quick_check (slower)",
    )
    health.set_defaults(func=_health)
    back = sub.add_parser("backup", help="copy the database safely, even while the bot runs")
    back.add_argument("--out", required=True, help="the backup file to write (must not exist)")
    back.add_argument("--db", help="database file (default: DATABASE_PATH)")
    back.add_argument("--force", action="store_true", help="replace --out if it exists")
    back.set_defaults(func=_backup)
    clinic = sub.add_parser("clinic", help="clinics: create, list, invite or remove clinicians")
    clinic.add_argument("--db", help="database file (default: DATABASE_PATH)")
    csub = clinic.add_subparsers(dest="clinic_command", required=True, metavar="ACTION")

    def action(name: str, help_text: str) -> argparse.ArgumentParser:
        """A clinic action; `--db` works after it too (`clinic create NAME --db PATH`)."""
        made = csub.add_parser(name, help=help_text)
        made.add_argument("--db", default=argparse.SUPPRESS, help=argparse.SUPPRESS)
        return made

    def clinic_ref(made: argparse.ArgumentParser, required: bool) -> None:
        made.add_argument(
            "clinic",
            nargs=None if required else "?",
            default=None,
            help="the clinic's name, or #NUMBER (clinic list)",
        )
        made.add_argument("--id", type=int, help="the clinic's number instead of its name")

    create = action("create", "a new clinic; prints its first clinician invite")
    create.add_argument("name", help="1 to 100 characters, unique ignoring case")
    create.add_argument(
        "--timezone", default="Europe/London", help="for the Monday digest (default Europe/London)"
    )
    action("list", "clinics, their clinicians (with numbers) and head counts")
    invite = action("invite", "another clinician invite link for a clinic")
    clinic_ref(invite, required=False)
    remove = action("remove-clinician", "end a clinician's access at once")
    remove.add_argument("clinician", type=int, help="the clinician's number (clinic list)")
    listed = action("invites", "unused clinician invites (of one clinic, or all)")
    clinic_ref(listed, required=False)
    revoke = action("revoke-invite", "an unused clinician invite stops working at once")
    revoke.add_argument("invite", type=int, help="the invite's number (clinic invites)")
    clinic.set_defaults(func=_clinic)
    export = sub.add_parser(
        "export", help="a cohort's CSV files, research files (docs/data-dictionary.md) or FHIR"
    )
    export.add_argument("--cohort", type=int, required=True, help="the cohort's number")
    export.add_argument(
        "--out", required=True, help="folder for the CSV files (the file, with --format fhir)"
    )
    export.add_argument(
        "--format",
        choices=("csv", "research", "fhir"),
        default="csv",
        metavar="FORMAT",
        help="csv: patient-days and sessions (default); research: long-format files and their "
        "dictionary; fhir: one FHIR R4 Bundle (JSON)",
    )
    export.add_argument(
        "--with-names", action="store_true", help="add first names (default: study ids only)"
    )
    export.add_argument(
        "--since", type=_local_date, metavar="DATE", help="first local date (YYYY-MM-DD)"
    )
    export.add_argument(
        "--until", type=_local_date, metavar="DATE", help="last local date (YYYY-MM-DD)"
    )
    export.add_argument("--db", help="database file (default: DATABASE_PATH)")
    export.add_argument("--force", action="store_true", help="replace files of the same name")
    export.set_defaults(func=_export)
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
