#!/usr/bin/env python3
"""Benchmark of the installed ``api-balance-monitor`` against loopback emulators.

Run it with the interpreter of the venv the package is installed in:

    python bench/run.py                  # every workload, about ten minutes
    python bench/run.py --only W1,W3     # some of them
    python bench/run.py --runs 3 --no-sequential

It starts relays (``monitor.emulators.RelayEmulator``) on 127.0.0.1 with injected latency, writes
configs into a temporary folder, runs the installed command the way cron does (absolute path,
minimal environment, bytecode compiled) and prints one table: wall time (median of the runs), the
physical limit for the configured concurrency (W1: the measured fixed cost of a run plus the shortest
schedule of its requests), efficiency (limit ÷ wall), the sequential time and the peak RSS of the
command. Nothing leaves 127.0.0.1.
"""

from __future__ import annotations

import argparse
import json
import math
import os
import platform
import shutil
import statistics
import subprocess
import sys
import tempfile
import threading
import time
from collections.abc import Callable, Iterator, Sequence
from contextlib import ExitStack, contextmanager
from dataclasses import dataclass, field
from datetime import datetime, timedelta, timezone
from decimal import Decimal
from pathlib import Path

import monitor
from monitor.emulators import RelayEmulator, Token
from monitor.redact import fingerprint

PYTHON = sys.executable
COMMAND = str(Path(sys.executable).parent / "api-balance-monitor")
REQUESTS_PER_ACCOUNT = 2  # openai-billing: /subscription and /usage, in flight together
CHILD_TIMEOUT = 600.0  # a watchdog: the command bounds itself (run_timeout_seconds), this bounds the bench


# --- measuring one command --------------------------------------------------------------------------


@dataclass(frozen=True)
class Sample:
    wall: float  # seconds
    cpu: float  # user + system seconds of the command
    rss_mb: float  # peak resident set of the command
    code: int
    stdout: str
    stderr: str


def cron_env(home: Path) -> dict[str, str]:
    """Cron's environment: no venv, no PYTHON* variables (so bytecode is used as in production)."""
    return {"HOME": str(home), "LOGNAME": "bench", "SHELL": "/bin/sh", "PATH": "/usr/bin:/bin", "LANG": "C.UTF-8"}


TIME = shutil.which("time", path="/usr/bin:/bin")  # GNU time: the command's own peak RSS


def measure(argv: Sequence[str], home: Path) -> Sample:
    """Run once; wall time, CPU time and peak RSS of the command alone.

    ``wait4``'s peak RSS of a child counts the image it was forked from (this process, with its relays),
    so the peak comes from GNU time when it is installed: a small process forking the command.
    """
    with tempfile.TemporaryFile() as out, tempfile.TemporaryFile() as err, \
            tempfile.NamedTemporaryFile("r") as rss:
        wrapped = [TIME, "-f", "%M", "-o", rss.name, *argv] if TIME else list(argv)
        start = time.perf_counter()
        proc = subprocess.Popen(wrapped, stdout=out, stderr=err, cwd=home, env=cron_env(home))
        watchdog = threading.Timer(CHILD_TIMEOUT, proc.kill)
        watchdog.start()
        try:
            _, status, usage = os.wait4(proc.pid, 0)
        finally:
            watchdog.cancel()
        wall = time.perf_counter() - start
        proc.returncode = code = os.waitstatus_to_exitcode(status)
        peak_kb = int(rss.read().split()[-1]) if TIME else usage.ru_maxrss
        out.seek(0)
        err.seek(0)
        return Sample(wall, usage.ru_utime + usage.ru_stime, peak_kb / 1024, code,
                      out.read().decode("utf-8", "replace"), err.read().decode("utf-8", "replace"))


def check(sample: Sample, expect_code: int = 0) -> Sample:
    if sample.code != expect_code:
        raise SystemExit(f"command exited {sample.code}, expected {expect_code}:\n{sample.stderr[-2000:]}")
    return sample


# --- loopback relays and configs ----------------------------------------------------------------------


def key_of(n: int) -> str:
    return f"sk-bench{n:05d}" + "k" * 40  # relay-shaped; no dash after sk- (the emulator splits on it)


@dataclass
class Farm:
    """Relays with accounts on them, in config order grouped by relay (as a real config lists them)."""

    relays: list[RelayEmulator]
    accounts: list[tuple[str, str, str]] = field(default_factory=list)  # name, key, base_url

    @property
    def per_host(self) -> list[int]:
        counts: dict[str, int] = {}
        for _, _, url in self.accounts:
            counts[url] = counts.get(url, 0) + 1
        return list(counts.values())


@contextmanager
def farm(hosts: int, accounts: int, delay: float = 0.0, used: Callable[[int], Decimal] | None = None,
         total: Decimal = Decimal(1000), **relay_options: object) -> Iterator[Farm]:
    """``accounts`` spread evenly over ``hosts`` relays on 127.0.0.1 (a host is an address and port)."""
    with ExitStack() as stack:
        relays = []
        built = Farm([])
        for h in range(hosts):
            share = range(h * accounts // hosts, (h + 1) * accounts // hosts)
            tokens = {key_of(n)[3:]: Token(total=total, used=used(n) if used else Decimal(n % 97),
                                           name=f"a{n}") for n in share}
            relay = stack.enter_context(RelayEmulator(tokens=tokens, delay=delay, **relay_options))  # type: ignore[arg-type]
            relays.append(relay)
            built.accounts += [(f"acct-{n:04d}", key_of(n), relay.url) for n in share]
        built.relays = relays
        yield built


def write_config(folder: Path, accounts: Sequence[tuple[str, str, str]], http: dict[str, int] | None = None,
                 retention_days: int | None = None) -> Path:
    folder.mkdir(parents=True, exist_ok=True)
    lines = ["timezone: Asia/Shanghai", "history:", "  folder: api_usage_history", "  file: api_usage_history.json"]
    if retention_days is not None:
        lines.append(f"  retention_days: {retention_days}")
    if http:
        lines.append("http:")
        lines += [f"  {k}: {v}" for k, v in http.items()]
    lines += ["defaults:", "  provider: openai-billing", "  low_balance: 1", "accounts:"]
    for name, key, url in accounts:
        lines += [f"  - name: {name}", f"    api_key: {key}", f"    base_url: {url}"]
    path = folder / "config.yaml"
    path.write_text("\n".join(lines) + "\n", encoding="utf-8")
    os.chmod(path, 0o600)  # it holds literal keys
    return path


def dry_run_json(config: Path, home: Path) -> Sample:
    """``--dry-run --json``; every account must have been queried."""
    sample = check(measure([COMMAND, "run", "-c", str(config), "--dry-run", "--json"], home))
    document = json.loads(sample.stdout)
    failed = [a["name"] for a in document["accounts"] if not a["ok"]]
    if failed:
        raise SystemExit(f"{len(failed)} account(s) failed, e.g. {failed[:3]}:\n{sample.stderr[-2000:]}")
    return sample


# --- the table ------------------------------------------------------------------------------------------


@dataclass
class Row:
    workload: str
    wall: float
    ideal: float | None = None
    sequential: float | None = None
    sequential_measured: bool = True
    rss_mb: float | None = None
    note: str = ""

    @property
    def efficiency(self) -> float | None:
        return None if self.ideal is None else self.ideal / self.wall


def seconds(value: float | None) -> str:
    if value is None:
        return "–"
    return f"{value * 1000:.0f} ms" if value < 1 else f"{value:.2f} s"


def table(rows: Sequence[Row]) -> str:
    head = ["workload", "wall (median)", "limit", "efficiency", "sequential", "peak RSS", "notes"]
    body = []
    for r in rows:
        sequential = seconds(r.sequential)
        if r.sequential is not None and not r.sequential_measured:
            sequential = "≈ " + sequential
        body.append([r.workload, seconds(r.wall), seconds(r.ideal),
                     "–" if r.efficiency is None else f"{r.efficiency:.0%}", sequential,
                     "–" if r.rss_mb is None else f"{r.rss_mb:.0f} MB", r.note])
    widths = [max(len(str(line[i])) for line in [head, *body]) for i in range(len(head))]
    out = ["| " + " | ".join(h.ljust(w) for h, w in zip(head, widths)) + " |",
           "|" + "|".join("-" * (w + 2) for w in widths) + "|"]
    out += ["| " + " | ".join(str(c).ljust(w) for c, w in zip(line, widths)) + " |" for line in body]
    return "\n".join(out)


def ideal_time(per_host: Sequence[int], max_workers: int, per_host_limit: int, per_request: float) -> float:
    """The shortest schedule of the requests alone: an account's requests are independent (they go
    together), at most ``max_workers`` requests in flight, at most ``per_host_limit`` on one host.
    ``per_host`` counts requests by host."""
    rounds = max(math.ceil(sum(per_host) / max_workers), max(math.ceil(n / per_host_limit) for n in per_host))
    return rounds * per_request


def median_sample(samples: Sequence[Sample]) -> Sample:
    return sorted(samples, key=lambda s: s.wall)[len(samples) // 2]


# --- workloads ------------------------------------------------------------------------------------------


@dataclass
class Options:
    runs: int
    sequential: bool
    work: Path


W1_ACCOUNTS, W1_HOSTS, W1_LATENCY, W1_WORKERS, W1_PER_HOST = 100, 10, 0.2, 32, 4


def w1(opt: Options) -> list[Row]:
    """100 accounts over 10 relays, 200 ms per request: the measured time beside the physical limit.

    The limit for a concurrency is the fixed cost of a run plus the shortest schedule of its requests at
    that concurrency (``ideal_time``). The fixed cost (start-up, config, report) is measured: one account
    on a relay without latency, each run of it just before a run of the workload, so both meet the same
    load on a shared machine. Efficiency is limit ÷ wall.
    """
    rows = []
    fixed_samples: list[Sample] = []
    with farm(hosts=W1_HOSTS, accounts=W1_ACCOUNTS, delay=W1_LATENCY) as f, farm(hosts=1, accounts=1) as one:
        alone = write_config(opt.work / "w1-fixed", one.accounts)
        dry_run_json(alone, opt.work)  # warm-up: page cache, bytecode
        requests_by_host = [n * REQUESTS_PER_ACCOUNT for n in f.per_host]
        for workers in (W1_WORKERS, 8):
            http = {"max_workers": workers, "per_host": W1_PER_HOST}
            config = write_config(opt.work / f"w1-{workers}", f.accounts, http)
            samples, fixed_here = [], []
            for _ in range(opt.runs):
                fixed_here.append(dry_run_json(alone, opt.work))
                samples.append(dry_run_json(config, opt.work))
            fixed_samples += fixed_here
            most = max(r.max_in_flight for r in f.relays)
            connections = max(r.connections for r in f.relays)
            for r in f.relays:
                r.max_in_flight = r.connections = 0
            fixed = statistics.median(s.wall for s in fixed_here)
            limit = fixed + ideal_time(requests_by_host, workers, W1_PER_HOST, W1_LATENCY)
            best = median_sample(samples)
            rows.append(Row(f"W1 {W1_ACCOUNTS} accounts / {W1_HOSTS} hosts, {W1_LATENCY * 1000:.0f} ms, "
                            f"max_workers {workers}", best.wall, limit, None, rss_mb=max(s.rss_mb for s in samples),
                            note=f"fixed cost {seconds(fixed)}; most in flight on one host: {most}; "
                            f"connections per host ≤ {connections // opt.runs}"
                            + ("" if workers == W1_WORKERS else " (the default max_workers)")))
        fixed = statistics.median(s.wall for s in fixed_samples)
        sequential = fixed + sum(requests_by_host) * W1_LATENCY
        measured = False
        if opt.sequential:
            config = write_config(opt.work / "w1-seq", f.accounts,
                                  {"max_workers": 1, "per_host": 1, "run_timeout_seconds": 600})
            sequential = dry_run_json(config, opt.work).wall
            measured = True
    for row in rows:
        assert row.ideal is not None
        row.sequential, row.sequential_measured = sequential, measured
        row.note = f"{sequential / row.wall:.1f}× sequential (limit {sequential / row.ideal:.1f}×); " + row.note
    return rows


def w2(opt: Options) -> list[Row]:
    """30 accounts on one relay allowing 10 requests per 10 s, 429 + Retry-After beyond that."""
    accounts, (allowed, window) = 30, (10, 10.0)
    requests = accounts * REQUESTS_PER_ACCOUNT
    ideal = (math.ceil(requests / allowed) - 1) * window  # the last batch may start only then

    def once(workers: int, per_host: int) -> tuple[Sample, int]:
        with farm(hosts=1, accounts=accounts, rate_limit=(allowed, window), retry_after=int(window)) as f:
            config = write_config(opt.work / f"w2-{workers}", f.accounts,
                                  {"max_workers": workers, "per_host": per_host, "run_timeout_seconds": 300})
            return dry_run_json(config, opt.work), f.relays[0].limited

    results = [once(8, 4) for _ in range(opt.runs)]
    best = median_sample([s for s, _ in results])
    limited = [n for _, n in results]
    sequential, measured = ideal, False
    if opt.sequential:
        sequential, measured = once(1, 1)[0].wall, True
    return [Row("W2 30 accounts / 1 host, 10 req per 10 s, Retry-After 10", best.wall, ideal, sequential, measured,
                max(s.rss_mb for s, _ in results),
                note=f"0 failed; 429 answers per run: {min(limited)}–{max(limited)}")]


def w3(opt: Options) -> list[Row]:
    """Start-up, beside the same interpreter importing argparse (the floor) and requests + yaml."""
    with farm(hosts=1, accounts=1) as f:
        config = write_config(opt.work / "w3", f.accounts)
        commands = {
            "floor: python -c 'import re, argparse'": [PYTHON, "-c", "import re, argparse"],
            "python -c 'import requests, yaml'": [PYTHON, "-c", "import requests, yaml"],
            "--version": [COMMAND, "--version"],
            "--help": [COMMAND, "--help"],
            "one-account --dry-run --json, 0 ms": [COMMAND, "run", "-c", str(config), "--dry-run", "--json"],
        }
        runs = max(opt.runs * 3, 15)  # short and noisy: more runs, interleaved so load hits all alike
        samples: dict[str, list[Sample]] = {name: [] for name in commands}
        for argv in commands.values():
            check(measure(argv, opt.work))  # warm-up (page cache, bytecode)
        for _ in range(runs):
            for name, argv in commands.items():
                samples[name].append(check(measure(argv, opt.work)))
    floor = statistics.median(s.wall for s in samples["floor: python -c 'import re, argparse'"])
    floor_cpu = statistics.median(s.cpu for s in samples["floor: python -c 'import re, argparse'"])
    rows = []
    for name, found in samples.items():
        wall = statistics.median(s.wall for s in found)
        cpu = statistics.median(s.cpu for s in found)
        rows.append(Row(f"W3 {name}", wall, rss_mb=max(s.rss_mb for s in found),
                        note=f"{wall / floor:.2f}× floor (CPU {cpu * 1000:.0f} ms, {cpu / floor_cpu:.2f}× floor's); "
                        f"median of {runs}"))
    return rows


W4_ACCOUNTS = 200
W4_DAYS = 365
W4_CHECK_DAYS = 8
W4_WRITE_TARGET = 128 * 1024  # bytes a steady check may write
W4_STEADY, W4_STEADY_RSS = 1.2, 64  # × an empty history, MB
W4_FIRST, W4_FIRST_RSS = 2.0, 80  # the first run on a v1 file
W4_WARM = 20  # at most this many unmeasured runs before the steady ones (one a cache: a file's is made once)


def w4_used(n: int, hours: float, busy: bool = False) -> Decimal:
    """Account ``n``'s used amount ``hours`` into the year: six decimals, as relays report them. Busy: $1–7
    each half hour, past the spike's minimum (``spike_min_amount`` $1), so each check works out the week's
    usual rate; else cents a day."""
    return Decimal(int(hours * 1000)) * (n % 7 + 1) * (400 if busy else 1) / 200000 + Decimal(n % 97) \
        + Decimal("0.000123")


def w4_total(busy: bool) -> Decimal:
    return Decimal(10_000_000 if busy else 1000)  # a busy year spends more than $1000


def w4_moments(now: datetime, days: int, check_days: int) -> tuple[datetime, list[tuple[datetime, str]]]:
    """The runs of a year before ``now``: reports at 01:05 and 13:05 UTC (09:05 and 21:05 in Shanghai),
    and ``check_days`` of checks at :17 and :47, in time order."""
    start = (now - timedelta(days=days)).replace(hour=1, minute=5, second=0, microsecond=0)
    moments = [(start + timedelta(hours=12 * k), "report") for k in range(days * 2)]
    first_check = (now - timedelta(days=check_days)).replace(minute=17, second=0, microsecond=0)
    moments += [(first_check + timedelta(minutes=30 * k), "check") for k in range(check_days * 48)]
    return start, sorted(m for m in moments if m[0] < now)


def w4_record(n: int, moment: datetime, run: str, start: datetime, busy: bool = False) -> dict[str, object]:
    used, total = w4_used(n, (moment - start).total_seconds() / 3600, busy), w4_total(busy)
    return {"time": moment.isoformat(timespec="seconds"), "account": f"acct-{n:04d}", "run": run,
            "key_fingerprint": fingerprint(key_of(n)), "provider": "openai-billing", "ok": True, "currency": "USD",
            "balance": f"{total - used:f}", "used": f"{used:f}", "total": f"{total}", "unlimited": False, "error": None}


def w4_folder(folder: Path, now: datetime, days: int = W4_DAYS, check_days: int = W4_CHECK_DAYS,
              busy: bool = False) -> int:
    """The history folder a year of cron leaves: a reports file a month, a checks file a day, one line a
    record with its run's seq, ``state.json``, and each file's mtime the time of its last append. Returns
    how many records it holds."""
    from monitor.history import partition

    folder.mkdir(parents=True)
    start, moments = w4_moments(now, days, check_days)
    files: dict[str, list[str]] = {}
    last: dict[str, datetime] = {}
    for seq, (moment, run) in enumerate(moments, 1):
        name = partition(run, moment)
        files.setdefault(name, []).extend(
            json.dumps({"seq": seq, **w4_record(n, moment, run, start, busy)}, separators=(", ", ": ")) + "\n"
            for n in range(W4_ACCOUNTS))
        last[name] = moment
    for name, lines in files.items():
        path = folder / name
        path.write_text("".join(lines), encoding="utf-8")
        os.chmod(path, 0o600)
        os.utime(path, (last[name].timestamp(), last[name].timestamp()))
    (folder / "state.json").write_text(json.dumps({"version": 2, "next_seq": len(moments) + 1}), encoding="utf-8")
    return len(moments) * W4_ACCOUNTS


def w4_v1(path: Path, now: datetime, one_line: bool, days: int = W4_DAYS) -> int:
    """A v1 history file (``{"version": 1, "records": [...]}``) of a year of reports, on one line or one
    record a line. Returns how many records it holds."""
    start, moments = w4_moments(now, days, 0)
    records = [json.dumps(w4_record(n, moment, run, start), ensure_ascii=False, separators=(", ", ": "))
               for moment, run in moments for n in range(W4_ACCOUNTS)]
    joint = ", " if one_line else ",\n"
    path.write_text('{"version": 1, "records": [' + ("" if one_line else "\n") + joint.join(records)
                    + ("" if one_line else "\n") + "]}\n", encoding="utf-8")
    return len(records)


def sizes(folder: Path) -> dict[str, tuple[int, int, int]]:
    """Every file's size, mtime and inode."""
    return {e.name: (e.stat().st_size, e.stat().st_mtime_ns, e.stat().st_ino) for e in os.scandir(folder)
            if e.is_file()}


def caches(folder: Path) -> dict[str, tuple[int, int, int]]:
    return {name: found for name, found in sizes(folder).items() if name.endswith(".cache")}


def written(before: dict[str, tuple[int, int, int]], after: dict[str, tuple[int, int, int]]) -> int:
    """The bytes a run wrote: the growth of the log's files (appended to), the whole of any other file it
    made or replaced (``state.json``, a cache)."""
    total = 0
    for name, (size, mtime, inode) in after.items():
        old = before.get(name)
        if name.endswith(".jsonl") and old is not None and old[2] == inode:
            total += max(0, size - old[0])
        elif old is None or old[1:] != (mtime, inode):
            total += size
    return total


def w4(opt: Options) -> list[Row]:
    """200 accounts (0 ms relays), real runs without a channel, against the history a year of cron leaves
    (a year of twice-daily reports, 146,000 records, plus 8 days of half-hourly checks, file mtimes as the
    year had them), beside the same runs on an empty history; and the first run on a v1 file of a year,
    one line and one record a line, which imports it. The steady check again with busy accounts, which
    spend enough each half hour for the check to weigh it against their usual rate.

    "Steady": unmeasured runs first (of ``run``, then of the command measured), until a run makes no cache (a
    run writes at most one, and a year left by a release without them has a file a day to cache), then each
    measured run finds the folder as the run before left it (cron's steady state). The targets are issue 18's."""
    now = datetime.now(timezone.utc)
    rows = []
    for busy in (False, True):
        rows += w4_rows(opt, now, busy)
    return rows


def w4_rows(opt: Options, now: datetime, busy: bool) -> list[Row]:
    """The rows of W4 for accounts that spend cents a day (every row), or busy ones (a steady check's)."""
    rows = []

    start = w4_moments(now, W4_DAYS, 0)[0]

    def spends(n: int) -> Decimal:  # what the relays say: the used amount now, in step with the history's
        return w4_used(n, (now - start).total_seconds() / 3600, busy)

    with farm(hosts=20, accounts=W4_ACCOUNTS, used=spends, total=w4_total(busy)) as f:
        http = {"max_workers": 40}
        work = opt.work / ("w4-busy" if busy else "w4")
        kept = write_config(work / "kept", f.accounts, http, retention_days=W4_DAYS + 1)  # a year kept
        bare = write_config(work / "empty", f.accounts, http, retention_days=W4_DAYS + 1)
        folder, legacy = kept.parent / "api_usage_history", kept.parent / "api_usage_history.json"
        template = work / "template"
        count = w4_folder(template, now, busy=busy)
        mb = sum(p.stat().st_size for p in template.iterdir()) / 1e6

        def fresh(source: Path | None) -> None:
            shutil.rmtree(folder, ignore_errors=True)
            for stale in kept.parent.glob("api_usage_history.json*"):
                stale.unlink()
            if source is not None:
                shutil.copytree(source, folder)  # copy2: the mtimes go along

        def empty(command: str) -> Sample:
            shutil.rmtree(bare.parent / "api_usage_history", ignore_errors=True)
            return check(measure([COMMAND, command, "-c", str(bare)], opt.work))

        def runs(command: str, source: Path | None, steady: bool, v1: str | None = None
                 ) -> tuple[Row, list[int], Row, float]:
            """The runs measured, each after the same command on an empty history (interleaved: the
            machine's load, shared with other jobs, weighs on both alike), and the ratio of their CPU
            times (user + system, medians), which another job's load blurs less than the wall time."""
            samples, wrote, empties = [], [], []
            for n in range(opt.runs):
                if not steady or n == 0:
                    fresh(source)
                    if v1 is not None:
                        w4_v1(legacy, now, one_line=v1 == "one line")
                    # Until every file's cache is made. A check makes only a day's (it writes little): the
                    # reports' are made by the runs cron starts twice a day.
                    for warm in (["run", command] if command == "check" and steady else [command] if steady else []):
                        for _ in range(W4_WARM):
                            made = caches(folder)
                            check(measure([COMMAND, warm, "-c", str(kept)], opt.work))
                            if caches(folder) == made:
                                break
                empties.append(empty(command))
                before = sizes(folder) if folder.is_dir() else {}
                samples.append(check(measure([COMMAND, command, "-c", str(kept)], opt.work)))
                wrote.append(written(before, sizes(folder)))
            best, base = median_sample(samples), median_sample(empties)
            cpu = statistics.median(s.cpu for s in samples) / statistics.median(s.cpu for s in empties)
            return (Row("", best.wall, rss_mb=max(s.rss_mb for s in samples)), wrote,
                    Row("", base.wall, rss_mb=max(s.rss_mb for s in empties)), cpu)

        for command in ("check",) if busy else ("run", "check"):
            row, wrote, base, cpu = runs(command, template, steady=True)
            ratio = row.wall / base.wall
            who = ", busy accounts" if busy else ""
            base.workload = f"W4 {command}, empty history (each before a steady {command}{who})"
            row.workload = f"W4 {command}, a year ({count:,} records, {mb:.0f} MB){who}, steady"
            row.note = (f"{ratio:.2f}× empty (target ≤ {W4_STEADY}×: {'met' if ratio <= W4_STEADY else 'NOT met'}; "
                        f"CPU {cpu:.2f}×); RSS target ≤ {W4_STEADY_RSS} MB: "
                        f"{'met' if row.rss_mb <= W4_STEADY_RSS else 'NOT met'}")
            if command == "check":
                most = statistics.median(wrote)
                row.note += (f"; wrote {most / 1024:.0f} KB (median; most {max(wrote) / 1024:.0f} KB; target ≤ "
                             f"{W4_WRITE_TARGET // 1024} KB: {'met' if max(wrote) <= W4_WRITE_TARGET else 'NOT met'})")
            rows += [base, row]
        for layout in () if busy else ("one line", "one record a line"):
            row, _, base, cpu = runs("run", None, steady=False, v1=layout)
            ratio = row.wall / base.wall
            row.workload = f"W4 run, first on a v1 file of a year ({W4_DAYS * 2 * W4_ACCOUNTS:,} records, {layout})"
            row.note = (f"{ratio:.2f}× empty ({base.wall:.2f} s, the runs between; target ≤ {W4_FIRST}×: "
                        f"{'met' if ratio <= W4_FIRST else 'NOT met'}; CPU {cpu:.2f}×); "
                        f"RSS target ≤ {W4_FIRST_RSS} MB: {'met' if row.rss_mb <= W4_FIRST_RSS else 'NOT met'}")
            rows.append(row)
    return rows


W5_CHANNELS, W5_USERS, W5_LATENCY, W5_PER_HOST = 200, 2000, 0.2, 4
W5_TOKEN = "BenchAdminAccessToken0123456789"


def w5(opt: Options) -> list[Row]:
    """A relay site (``new-api-admin``) of 200 channels and 2,000 users, 200 ms per request: a real run
    (history, report on stdout), without and with ``refresh: true``. Target: at most 3 s plus the refresh
    requests ÷ ``per_host`` × the latency, and 80 MB."""
    from monitor.admin_emulator import Channel, RelayAdminEmulator, User

    now = int(time.time())
    rows = []
    for refresh in (False, True):
        channels = [Channel(n, f"upstream-{n}", type=43 if n % 10 == 0 else 1, status=2 if n % 50 == 0 else 1,
                            balance=Decimal(n % 70), updated=now - 3600, key=f"sk-upstream-{n:04d}" + "k" * 30,
                            refresh=Decimal(n % 70) + Decimal("0.5"))
                    for n in range(1, W5_CHANNELS + 1)]
        users = [User(n, f"user{n}", quota=(n * 7919) % 5_000_000, used_quota=n * 1000, status=2 if n % 97 == 0 else 1,
                      access_token=f"usertoken{n:05d}" + "t" * 20) for n in range(1, W5_USERS + 1)]
        with RelayAdminEmulator(W5_TOKEN, "new-api", channels=channels, users=users, latency=W5_LATENCY) as relay:
            folder = opt.work / f"w5-{refresh}"
            folder.mkdir(parents=True, exist_ok=True)
            config = folder / "config.yaml"
            config.write_text("\n".join([
                "timezone: Asia/Shanghai", "history:", "  folder: api_usage_history",
                "http:", f"  per_host: {W5_PER_HOST}", "accounts:", "  - name: site", "    provider: new-api-admin",
                f"    base_url: {relay.url}", f"    access_token: {W5_TOKEN}", "    user_id: 1",
                "    watch: [channels, users]", f"    refresh: {str(refresh).lower()}", "    low_balance: 20",
                "    user_low_balance: 1", ""]), encoding="utf-8")
            os.chmod(config, 0o600)
            samples = [check(measure([COMMAND, "run", "-c", str(config)], folder), expect_code=1)
                       for _ in range(opt.runs)]
            requests = len(relay.requests) // opt.runs
            refreshed = sum(1 for c in channels if c.status == 1) if refresh else 0
        best = median_sample(samples)
        target = 3.0 + refreshed / W5_PER_HOST * W5_LATENCY
        rows.append(Row(f"W5 relay site, 200 channels + 2,000 users, 200 ms{', refresh' if refresh else ''}",
                        best.wall, target, rss_mb=max(s.rss_mb for s in samples),
                        note=f"limit = target (3 s + {refreshed} refreshes ÷ {W5_PER_HOST} × 200 ms); "
                             f"{requests} requests per run; {len(best.stdout.splitlines())} report lines"))
    return rows


WORKLOADS: dict[str, Callable[[Options], list[Row]]] = {"W1": w1, "W2": w2, "W3": w3, "W4": w4, "W5": w5}


def machine() -> str:
    cpu = platform.processor() or platform.machine()
    try:
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                cpu = line.split(":", 1)[1].strip()
                break
    except OSError:
        pass
    load = ", ".join(f"{x:.2f}" for x in os.getloadavg())
    return (f"{platform.system()} {platform.release()}, {os.cpu_count()} CPU ({cpu}), "
            f"Python {platform.python_version()}, api-balance-monitor {monitor.__version__}, load average {load}")


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--only", default=",".join(WORKLOADS), help="comma-separated workloads (default: all)")
    parser.add_argument("--runs", type=int, default=5, help="runs per measurement; the median is shown (default 5)")
    parser.add_argument("--no-sequential", dest="sequential", action="store_false",
                        help="estimate the sequential time instead of measuring it (saves about 3 minutes)")
    args = parser.parse_args(argv)
    wanted = [w.strip().upper() for w in args.only.split(",") if w.strip()]
    unknown = [w for w in wanted if w not in WORKLOADS]
    if unknown or args.runs < 1:
        parser.error(f"unknown workload(s): {', '.join(unknown)}" if unknown else "--runs must be at least 1")
    if not Path(COMMAND).exists():
        parser.error(f"{COMMAND} not found: run this with the interpreter of the venv the package is installed in")
    # Bytecode as a normal install has it (PYTHONDONTWRITEBYTECODE in a shell would otherwise cost every start).
    subprocess.run([PYTHON, "-m", "compileall", "-q", str(Path(monitor.__file__).parent)], check=True,
                   env=cron_env(Path.home()), stdout=subprocess.DEVNULL)
    print(f"# {datetime.now(timezone.utc):%Y-%m-%d %H:%M} UTC — {machine()}", flush=True)
    rows: list[Row] = []
    with tempfile.TemporaryDirectory(prefix="abm-bench-") as work:
        options = Options(args.runs, args.sequential, Path(work))
        for name in wanted:
            started = time.perf_counter()
            print(f"{name} …", end=" ", file=sys.stderr, flush=True)
            rows += WORKLOADS[name](options)
            print(f"{time.perf_counter() - started:.0f} s", file=sys.stderr, flush=True)
            for folder in Path(work).iterdir():
                if folder.is_dir():
                    shutil.rmtree(folder)
    print(table(rows))
    return 0


if __name__ == "__main__":
    sys.exit(main())
