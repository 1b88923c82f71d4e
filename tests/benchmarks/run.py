"""Benchmarks (issue 8): send at Telegram's limit, plan for 100,000 patients against the naive
design, handling cost, simulation speed, and how the costs grow. One command, one run:

    python -m tests.benchmarks.run            # full run, ~90 minutes; writes docs/benchmarks.md
    python -m tests.benchmarks.run --parallel # the same, two measurements at a time (~an hour)
    python -m tests.benchmarks.run --quick    # small sizes, a few seconds (the smoke test uses it)

Every figure comes from its own fresh Python process (`--measure`), so times and peak memory of
one measurement do not leak into another. Prints a table and writes a Markdown report with the
machine, the command and the figures; `--json` also writes the raw results.
"""

from __future__ import annotations

import argparse
import dataclasses
import json
import os
import platform
import shutil
import sqlite3
import subprocess
import sys
import tempfile
import time
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from importlib import metadata
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]


@dataclass
class Plan:
    """What one run measures."""

    fanout: list[tuple[int, int, bool]]  # (messages, chats, paced)
    sizes: list[int]  # patients, for planning, start-up and handling
    answers: int  # rating answers per size
    simulation: tuple[int, int]  # (patients, days)
    reference_sizes: list[int] = field(default_factory=list)  # the old planner, for comparison
    history: tuple[int, int] | None = None  # (patients, days): a restart with check-in history
    profile: tuple[int, int] | None = (200, 14)  # (patients, days): the simulator, cProfiled
    restarts: int = 3  # restarts measured per size (the machine is noisy): median reported
    inline: bool = False  # run the synchronous measurements in this process (quick: saves start-up)
    # (patients, hours, from_hour): the busiest hours (tests/benchmarks/peak.py), and the model
    peak: tuple[int, float, float] | None = None
    peak_from: Path | None = None  # take the peak run from `peak --json FILE` instead (--peak-from)


FULL = Plan(
    fanout=[(3000, 3000, True), (900, 300, True), (600, 600, False)],
    sizes=[1_000, 10_000, 100_000],
    answers=10_000,
    simulation=(1_000, 84),
    reference_sizes=[1_000, 10_000, 100_000],
    history=(10_000, 90),
    profile=(200, 14),
    peak=(100_000, 6.0, 19.0),  # 07:00-13:00 UTC: the busiest hours (the model covers the day)
)
QUICK = Plan(
    fanout=[(30, 30, True), (6, 3, True)],
    sizes=[300],
    answers=100,
    simulation=(8, 3),
    reference_sizes=[300],
    history=(300, 5),
    profile=None,
    restarts=1,
    inline=True,
    peak=(500, 4.0, 0.0),
)


INLINE = {"population", "plan", "history"}  # synchronous, no global state: may run in-process


def _write(path: Path, text: str) -> None:
    """The report, keeping the inbox section (tests/benchmarks/inbox.py writes that one)."""
    from tests.benchmarks.inbox import keep_section

    path.write_text(keep_section(path.read_text() if path.exists() else "", text))


def measure(name: str, log: Path, inline: bool = False, **kwargs) -> dict:
    """Run one measurement in a fresh interpreter; its stderr goes to `log`. `inline`: run a
    synchronous one in this process instead (quick runs only: time and memory then mean nothing)."""
    if inline and name in INLINE:
        from tests.benchmarks.measure import run_measure

        return json.loads(json.dumps(run_measure(name, kwargs), default=str))
    cmd = [
        sys.executable,
        "-m",
        "tests.benchmarks.run",
        "--measure",
        name,
        "--args",
        json.dumps(kwargs),
    ]
    started = time.perf_counter()
    with log.open("a") as err:
        err.write(f"\n### {name} {kwargs}\n")
        err.flush()
        done = subprocess.run(
            cmd,
            cwd=ROOT,
            stdout=subprocess.PIPE,
            stderr=err,
            text=True,
            env={**os.environ, "PYTHONHASHSEED": "0"},
        )
    if done.returncode != 0:
        tail = "\n".join(log.read_text().splitlines()[-30:])
        raise RuntimeError(f"measurement {name} {kwargs} failed (exit {done.returncode}):\n{tail}")
    result = json.loads(done.stdout.strip().splitlines()[-1])
    print(
        f"  {name} {kwargs if len(str(kwargs)) < 90 else ''} "
        f"({time.perf_counter() - started:.1f} s)",
        file=sys.stderr,
        flush=True,
    )
    return result


def machine() -> dict:
    cpu = platform.processor() or "unknown"
    try:
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                cpu = line.split(":", 1)[1].strip()
                break
    except OSError:
        pass
    ram = None
    try:
        for line in Path("/proc/meminfo").read_text().splitlines():
            if line.startswith("MemTotal"):
                ram = int(line.split()[1]) / 2**20
    except OSError:
        pass
    versions = {}
    for dist in ("python-telegram-bot", "APScheduler", "aiolimiter", "sqlite-utils", "Jinja2"):
        try:
            versions[dist] = metadata.version(dist)
        except metadata.PackageNotFoundError:
            versions[dist] = "not installed"
    try:
        commit = subprocess.run(
            ["git", "rev-parse", "--short", "HEAD"], cwd=ROOT, text=True, capture_output=True
        ).stdout.strip()
        dirty = subprocess.run(
            ["git", "status", "--porcelain", "--untracked-files=no"],
            cwd=ROOT,
            text=True,
            capture_output=True,
        ).stdout.strip()
    except OSError:
        commit, dirty = "", ""
    return {
        "cpu": cpu,
        "cores": os.cpu_count(),
        "ram_gb": ram,
        "os": f"{platform.system()} {platform.release()}",
        "python": platform.python_version(),
        "sqlite": sqlite3.sqlite_version,
        "libraries": versions,
        "commit": commit + (" (uncommitted changes)" if dirty else ""),
    }


def run_all(plan: Plan, workdir: Path, log: Path, jobs: int = 1) -> dict:
    """Every measurement of `plan`, one process each. `jobs=2` runs the fan-out and simulator
    measurements beside the size-by-size ones (--quick, --parallel: it disturbs the timings)."""
    results: dict = {"fanout": [], "sizes": {}, "simulation": None}

    def fanouts() -> None:
        for messages, chats, paced in plan.fanout:
            results["fanout"].append(
                measure(
                    "fanout",
                    log,
                    path=str(workdir / "fanout.sqlite3"),
                    messages=messages,
                    chats=chats,
                    paced=paced,
                )
            )

    def simulations() -> None:
        patients_n, days = plan.simulation
        results["simulation"] = measure("simulation", log, patients_n=patients_n, days=days)
        if plan.profile:
            patients_n, days = plan.profile
            results["simulation_profile"] = measure(
                "simulation_profile", log, patients_n=patients_n, days=days
            )

    def sizes() -> None:
        for n in plan.sizes:
            results["sizes"][n] = one_size(plan, n, workdir, log)

    def peaks() -> None:
        if plan.peak_from is not None:
            results["peak"], results["peak_model"] = reuse_peak(plan.peak_from)
        elif plan.peak:
            results["peak"], results["peak_model"] = peak(plan.peak, workdir, log)

    if jobs > 1:
        # Two tracks, the longest alone: the peak day (about an hour at 100,000) beside
        # everything else; when it is taken from an earlier run, the simulation instead.
        measured_peak = plan.peak is not None and plan.peak_from is None
        with ThreadPoolExecutor(max_workers=2) as pool:
            if measured_peak:
                other = pool.submit(peaks)
                fanouts()
                sizes()
                simulations()
            else:
                other = pool.submit(simulations)
                fanouts()
                sizes()
                peaks()
            other.result()
    else:
        fanouts()
        sizes()
        simulations()
        peaks()
    return results


def peak(size: tuple[int, float, float], workdir: Path, log: Path) -> tuple[dict, dict]:
    """The busiest hours (tests/benchmarks/peak.py) in a fresh process, then the model beside
    it and at 3 and 10 times the size (300,000 and 1,000,000 for the full run)."""
    from tests.benchmarks import model

    patients_n, hours, from_hour = size
    shm = Path("/dev/shm")  # the run's SQLite writes need no disk (the figures are virtual time)
    db = (shm if shm.is_dir() else workdir) / f"backpain-peak-{os.getpid()}.sqlite3"
    out = workdir / "peak.json"
    cmd = [sys.executable, "-m", "tests.benchmarks.peak", "--patients", str(patients_n)]
    cmd += ["--hours", str(hours), "--from-hour", str(from_hour), "--path", str(db)]
    cmd += ["--json", str(out)]
    started = time.perf_counter()
    try:
        with log.open("a") as err:
            err.write(f"\n### peak {size}\n")
            err.flush()
            done = subprocess.run(
                cmd, cwd=ROOT, stdout=subprocess.DEVNULL, stderr=err, text=True, check=False
            )
        if done.returncode != 0:
            tail = "\n".join(log.read_text().splitlines()[-30:])
            raise RuntimeError(f"the peak benchmark failed (exit {done.returncode}):\n{tail}")
    finally:
        for leftover in db.parent.glob(f"{db.name}*"):
            leftover.unlink()
    result = json.loads(out.read_text())
    result["wall_s"] = time.perf_counter() - started
    print(f"  peak {size} ({result['wall_s']:.1f} s)", file=sys.stderr, flush=True)
    return result, model.answer(result, (3 * patients_n, 10 * patients_n))


def reuse_peak(path: Path) -> tuple[dict, dict]:
    """A peak run made earlier by `python -m tests.benchmarks.peak --json PATH` (its figures are
    virtual time, so they do not depend on the machine's load), and the model run again on it."""
    from tests.benchmarks import model

    result = json.loads(path.read_text())
    result["reused_from"] = result.get("command", f"python -m tests.benchmarks.peak --json {path}")
    n = result["patients"]
    print(f"  peak taken from {path}", file=sys.stderr, flush=True)
    return result, model.answer(result, (3 * n, 10 * n))


def one_size(plan: Plan, n: int, workdir: Path, log: Path) -> dict:
    template = str(workdir / f"patients-{n}.sqlite3")
    planned = str(workdir / f"planned-{n}.sqlite3")
    inline = plan.inline
    size: dict = {"population": measure("population", log, inline, path=template, n=n)}
    size["plan"] = measure("plan", log, inline, template=template, path=planned)
    if n in plan.reference_sizes:
        size["plan_reference"] = measure(
            "plan",
            log,
            inline,
            template=template,
            path=str(workdir / f"reference-{n}.sqlite3"),
            implementation="reference",
        )
        Path(workdir / f"reference-{n}.sqlite3").unlink()
    if plan.history and plan.history[0] == n:
        older = str(workdir / f"history-{n}.sqlite3")
        shutil.copyfile(planned, older)
        size["history"] = measure("history", log, inline, path=older, days=plan.history[1])
        size["startup_history"] = measure("startup", log, path=older, restart=True)
    runs = []
    for _ in range(plan.restarts):  # the headline figure: the median of a few
        again = str(workdir / f"restart-{n}.sqlite3")
        shutil.copyfile(planned, again)
        runs.append(measure("startup", log, path=again, restart=True))
    size["startup"] = sorted(runs, key=lambda r: r["seconds"])[len(runs) // 2]
    size["startup_runs"] = [r["seconds"] for r in runs]
    first = str(workdir / f"first-{n}.sqlite3")
    shutil.copyfile(template, first)
    size["startup_first"] = measure("startup", log, path=first, restart=False)
    size["naive"] = measure("startup_naive", log, path=template)
    size["handling"] = measure(
        "handling",
        log,
        template=template,
        path=str(workdir / f"handling-{n}.sqlite3"),
        answers=plan.answers,
    )
    for leftover in workdir.glob(f"*-{n}.sqlite3*"):
        leftover.unlink()
    return size


def print_tables(text: str) -> None:
    """The report's headings, tables and verdicts, without the prose."""
    keep = [
        line for line in text.splitlines() if line.startswith(("#", "|", "* ")) or not line.strip()
    ]
    print(
        "\n".join(
            line for i, line in enumerate(keep) if line.strip() or (i and keep[i - 1].strip())
        )
    )


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(
        prog="python -m tests.benchmarks.run", description=__doc__.split("\n\n")[0]
    )
    parser.add_argument("--quick", action="store_true", help="small sizes, a few seconds")
    parser.add_argument(
        "--parallel",
        action="store_true",
        help="run the fan-out and size-by-size measurements beside the simulation "
        "(two at a time: about half the wall time; timings disturb each other "
        "a little on a small machine)",
    )
    parser.add_argument(
        "--output",
        type=Path,
        default=None,
        help="Markdown report (default: docs/benchmarks.md; with --quick: none)",
    )
    parser.add_argument("--json", type=Path, default=None, help="also write the raw results")
    parser.add_argument(
        "--workdir",
        type=Path,
        default=None,
        help="where the benchmark databases go (default: a temporary folder)",
    )
    parser.add_argument(
        "--from-json",
        type=Path,
        default=None,
        help="re-render the report from a run's --json output (no measuring)",
    )
    parser.add_argument(
        "--peak-from",
        type=Path,
        default=None,
        help="take the busiest-hours run from `python -m tests.benchmarks.peak --json FILE` "
        "(made at the same commit) instead of running it (it takes about an hour)",
    )
    parser.add_argument("--measure", help=argparse.SUPPRESS)
    parser.add_argument("--args", help=argparse.SUPPRESS)
    args = parser.parse_args(argv)

    if args.measure:  # inside a measurement process
        from tests.benchmarks.measure import run_measure

        print(json.dumps(run_measure(args.measure, json.loads(args.args or "{}")), default=str))
        return 0

    from tests.benchmarks import report

    if args.from_json:
        raw = json.loads(args.from_json.read_text())
        if args.peak_from is not None:  # a run's other figures, with the peak of its own run
            raw["results"]["peak"], raw["results"]["peak_model"] = reuse_peak(args.peak_from)
        text = report.render(raw["results"], raw["machine"], raw["command"], raw["seconds"])
        print_tables(text)
        _write(args.output or ROOT / "docs" / "benchmarks.md", text)
        return 0

    plan = QUICK if args.quick else FULL
    if args.peak_from is not None:
        plan = dataclasses.replace(plan, peak_from=args.peak_from)
    output = args.output or (None if args.quick else ROOT / "docs" / "benchmarks.md")
    command = (
        "python -m tests.benchmarks.run"
        + (" --quick" if args.quick else "")
        + (" --parallel" if args.parallel else "")
        + (f" --peak-from {args.peak_from}" if args.peak_from else "")
    )
    started = time.perf_counter()
    with tempfile.TemporaryDirectory(prefix="backpain-bench-") as tmp:
        workdir = args.workdir or Path(tmp)
        workdir.mkdir(parents=True, exist_ok=True)
        log = workdir / "measurements.log"
        print(
            f"benchmarks ({'quick' if args.quick else 'full'}); measurement logs in {log}",
            file=sys.stderr,
        )
        results = run_all(plan, workdir, log, jobs=2 if args.quick or args.parallel else 1)
        results["parallel"] = bool(args.quick or args.parallel)
    seconds = time.perf_counter() - started
    info = machine()
    text = report.render(results, info, command, seconds)
    print_tables(text)
    if args.json:
        args.json.write_text(
            json.dumps(
                {"machine": info, "command": command, "seconds": seconds, "results": results},
                indent=1,
                default=str,
            )
        )
    if output:
        _write(output, text)
        print(f"\nwrote {output}", file=sys.stderr)
    return 0


if __name__ == "__main__":
    sys.exit(main())
