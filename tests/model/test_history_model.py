"""A model test of the history (issue 18): random sequences of runs against a plain model of the SPEC.

Hypothesis plans 5-25 runs of ``run`` and ``check`` with clock jumps both ways (minutes to a day back, hours
to a day ahead), same-second runs, key changes, resets, top-ups and six-decimal spends, and between runs
it damages the history as people and crashes do: a run killed mid-append (its last write cut at a byte),
a byte changed by hand in an earlier line, ``state.json`` deleted or damaged. After every run it checks
that the report (each account's period, burn rate and 7-day trend), the ``--json`` document's accounts
and ``history export`` are what the model below computes from the records that actually landed.

The model is written from the SPEC alone ("History", "Usage over the period", "The report"); it uses
nothing of ``monitor.usage``. Two accounts on the loopback relay: ``main`` (openai-billing: reports
``used``) and ``purse`` (the ``json`` provider reading one number: a balance-only provider).
"""

from __future__ import annotations

import contextlib
import dataclasses
import io
import json
import os
import re
import tempfile
import time
from collections.abc import Iterator
from dataclasses import dataclass
from datetime import date, datetime, timedelta, timezone
from decimal import ROUND_HALF_UP, Decimal
from fractions import Fraction
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit
from zoneinfo import ZoneInfo

import pytest
import requests
from hypothesis import HealthCheck, given, settings
from hypothesis import event as hypothesis_event
from hypothesis import strategies as st
from hypothesis.errors import InvalidArgument
from requests.structures import CaseInsensitiveDict

from monitor import history
from monitor.commands import history_export
from monitor.config import Config, load
from monitor.emulators import RelayEmulator, Request, Token
from monitor.http import HttpClient
from monitor.redact import Redactor, fingerprint
from monitor.run import Hooks, Outcome, run_once

KEY_A = "sk-" + "M0d3lA" * 8
KEY_B = "sk-" + "M0d3lB" * 8  # the key "main" is changed to, and back
KEY_P = "sk-" + "Pur5e0" * 8
ZONE = ZoneInfo("Asia/Shanghai")
# Early on a UTC day, and weeks before today's real clock: every file the runs write is within the 8 days a
# run reads by name (the plan's span is capped), and check_retention_days 30 keeps pruning out of it.
START = datetime(2026, 10, 1, 0, 0, 5, tzinfo=timezone.utc)
SPAN = timedelta(days=6, hours=20)  # the most the runs' true times cover
WEEK = timedelta(days=7)
LOW_DAYS = {"main": 3, "purse": 400}  # the config's low_days: the purse's is high enough to fire now and then
DAY = 86400


# --- the model -----------------------------------------------------------------------------------------


@dataclass(frozen=True)
class Rec:
    """A record as the model knows it landed."""

    seq: int
    time: datetime
    account: str
    run: str  # report | check
    fp: str
    provider: str
    balance: Decimal
    used: Decimal | None
    total: Decimal | None


def money(value: Decimal | None, places: str = "0.0001") -> str | None:
    if value is None:
        return None
    return f"{value.quantize(Decimal(places), rounding=ROUND_HALF_UP):f}"


def money_of(value: Fraction | None, places: int = 4) -> str | None:
    """An exact rate, rounded half-up (it is never negative here)."""
    if value is None:
        return None
    scaled = value * 10 ** places
    whole = int(scaled + Fraction(1, 2)) if scaled >= 0 else -int(-scaled + Fraction(1, 2))
    return f"{Decimal(whole).scaleb(-places):f}"


@dataclass(frozen=True)
class Pair:
    kind: str  # usage | reset | topup
    usage: Decimal | None
    topup: Decimal | None
    seconds: float
    key_changed: bool


def pair(a: Rec, b: Rec) -> Pair:
    """SPEC: usage = used - previous used (previous balance - balance without used); a decrease of used or
    another fingerprint is a reset; a balance increase on a balance-only provider is a top-up."""
    seconds = (b.time - a.time).total_seconds()
    if a.fp != b.fp:
        return Pair("reset", None, None, seconds, True)
    if a.used is not None and b.used is not None:
        if b.used < a.used:
            return Pair("reset", None, None, seconds, False)
        # The code also says by how much a relay key's grant was raised (the rise of total): SPEC-silent.
        raised = None if a.total is None or b.total is None or b.total <= a.total else b.total - a.total
        return Pair("usage", b.used - a.used, raised, seconds, False)
    if b.balance > a.balance:
        return Pair("topup", None, b.balance - a.balance, seconds, False)
    return Pair("usage", a.balance - b.balance, None, seconds, False)


def pairs(series: list[Rec]) -> list[Pair]:
    return [pair(a, b) for a, b in zip(series, series[1:])]


def period(series: list[Rec], command: str) -> dict[str, Any]:
    """The --json period of the last snapshot of ``series`` (the account's snapshots in seq order)."""
    end = len(series) - 1
    if command == "check":
        start = end - 1 if end else None
    else:
        reports = [i for i in range(end) if series[i].run == "report"]
        # No report yet but checks before it: the code measures since the first check (SPEC: silent).
        start = reports[-1] if reports else (0 if end else None)
    if start is None:
        return {"kind": "first", "since": None, "elapsed_seconds": None, "usage": None, "topup": None,
                "reason": "first", "approximate": False}
    first = series[start]
    seconds = int((series[-1].time - first.time).total_seconds())
    steps = pairs(series[start:])
    usages = [p.usage for p in steps if p.kind == "usage" and p.usage is not None]
    topups = [p.topup for p in steps if p.topup is not None]
    usage = sum(usages, Decimal(0)) if usages else None
    topup = sum(topups, Decimal(0)) if topups else None
    clock = "clock" if seconds < 0 else "same_second" if seconds == 0 else None
    kind, reason, approximate = ("usage" if usages else "topup"), clock, False
    if any(p.kind == "reset" for p in steps):
        why = "key_changed" if any(p.key_changed for p in steps) else "reset"
        if len(steps) == 1:  # a reset alone: no usage to show (and nothing approximate about it)
            usage, topup, reason = None, None, why
        else:
            reason, approximate = clock or why, True
        kind = "reset"
    if kind == "topup":
        usage = None
    return {"kind": kind, "since": first.time.astimezone(ZONE).isoformat(timespec="seconds"),
            "elapsed_seconds": seconds if seconds >= 0 else None, "usage": money(usage), "topup": money(topup),
            "reason": reason, "approximate": approximate}


def burn_rate(series: list[Rec], now: datetime) -> Fraction | None:
    """SPEC: the usage inside the last 7x24 h (resets and top-ups excluded) over the hours those records
    span; null under 24 h. Going back in seq order, the week ends at the first snapshot older than 7x24 h
    by the clock (the code's reading: SPEC-silent on a clock that jumps across the week's edge); the span
    is from the earliest to the latest of its snapshots, one from the future (after now) left out."""
    first = len(series) - 1
    while first > 0 and series[first - 1].time >= now - WEEK:
        first -= 1
    week = series[first:]
    times = [r.time for r in week if r.time <= now]
    if len(times) < 2 or max(times) - min(times) < timedelta(seconds=DAY):
        return None
    pairs = [pair(a, b) for a, b in zip(week, week[1:])]
    spent = sum((Fraction(p.usage) for p in pairs if p.kind == "usage" and p.usage is not None), Fraction(0))
    return spent * DAY / Fraction(int((max(times) - min(times)).total_seconds()))


def trend(series: list[Rec], now: datetime) -> tuple[Decimal | None, ...]:
    """Usage per local day (by the later snapshot's day), the last 7 days to today; None: nothing measured."""
    today = now.astimezone(ZONE).date()
    days: dict[date, Decimal] = {}
    for a, b in zip(series, series[1:]):
        day = b.time.astimezone(ZONE).date()
        p = pair(a, b)
        days[day] = days.get(day, Decimal(0)) + (p.usage if p.kind == "usage" and p.usage is not None else 0)
    return tuple(days.get(today - timedelta(days=n)) for n in range(6, -1, -1))


def expected_account(series: list[Rec], command: str, now: datetime) -> dict[str, Any]:
    current = series[-1]
    rate = burn_rate(series, now)
    left = None if rate is None or rate <= 0 else Fraction(max(current.balance, Decimal(0))) / rate
    low_days = left is not None and left < LOW_DAYS[current.account]
    return {
        "name": current.account, "provider": current.provider, "ok": True, "error": None, "currency": "USD",
        "balance": money(current.balance), "used": money(current.used), "total": money(current.total),
        "unlimited": False, "note": None, "low_balance": False, "low_days": low_days,
        "period": period(series, command), "burn_rate_per_day": money_of(rate), "days_left": money_of(left, 2),
        "alerts": ["low"] if low_days else [],
    }


class Model:
    """The records that landed (and can be read), in seq order, and the next seq the state file holds."""

    def __init__(self) -> None:
        self.records: list[Rec] = []
        self.state_next: int | None = None  # None: state.json missing or damaged

    def next_seq(self) -> int:
        return max(self.state_next or 1, max((r.seq for r in self.records), default=0) + 1)

    def series(self, account: str) -> list[Rec]:
        return [r for r in sorted(self.records, key=lambda r: r.seq) if r.account == account]


def event(text: str) -> None:
    """What the plans reach, for ``pytest --hypothesis-show-statistics`` (nothing outside ``@given``)."""
    with contextlib.suppress(InvalidArgument):
        hypothesis_event(text)


# --- the bench: the relay, the configs, the runs ---------------------------------------------------------


CONFIG = """\
timezone: Asia/Shanghai
history:
  folder: api_usage_history
  check_retention_days: 30
http:
  max_workers: 1
defaults:
  provider: openai-billing
  base_url: {url}
  low_balance: 1
  spike_min_amount: 1000000000
accounts:
  - name: main
    api_key: {key}
  - name: purse
    provider: json
    api_key: {purse}
    url: {url}/v1/dashboard/billing/subscription
    balance: hard_limit_usd
    currency: USD
    low_days: 400
"""


class Bench:
    """The relay, and the config as edited to use each key of ``main`` (with its redactor), by key."""

    def __init__(self, relay: RelayEmulator, configs: dict[str, Config], redactors: dict[str, Redactor]) -> None:
        self.relay, self.configs, self.redactors = relay, configs, redactors

    def __repr__(self) -> str:
        return "Bench()"


class InProcess(requests.adapters.BaseAdapter):
    """The relay emulator's answers handed to ``requests`` without a socket: the same answers, parsed by the
    same client and providers, at a tenth of the cost (6,000 runs must fit in a minute)."""

    def __init__(self, relay: RelayEmulator) -> None:
        super().__init__()
        self.relay = relay

    def send(self, request: requests.PreparedRequest, *args: Any, **kwargs: Any) -> requests.Response:
        url = urlsplit(request.url or "")
        body = request.body if isinstance(request.body, bytes) else (request.body or "").encode()
        answer = self.relay.handle(Request(request.method or "GET", url.path + (f"?{url.query}" if url.query else ""),
                                           {k.lower(): v for k, v in request.headers.items()}, body, time.time()))
        assert answer is not None
        status, headers, payload = answer
        response = requests.Response()
        response.status_code, response.headers, response.raw = status, CaseInsensitiveDict(headers), io.BytesIO(payload)
        response.url, response.request = request.url or "", request
        return response

    def close(self) -> None:
        pass


@pytest.fixture(scope="module")
def bench() -> Iterator[Bench]:
    # The model test checks numbers, not durability (crashes are made by cutting the files): no fsync.
    with RelayEmulator(tokens={}) as relay, tempfile.TemporaryDirectory() as folder, \
            pytest.MonkeyPatch.context() as patch:
        patch.setattr(os, "fsync", lambda fd: None)
        patch.setattr(history, "FRESH", 1)  # each run's file cached after it: most reads go through a cache
        configs, redactors = {}, {}
        for key in (KEY_A, KEY_B):
            path = Path(folder) / key[-8:] / "config.yaml"
            path.parent.mkdir()
            path.write_text(CONFIG.format(url=relay.url, key=key, purse=KEY_P), encoding="utf-8")
            os.chmod(path, 0o600)
            configs[key] = load(path, environ={})
            redactors[key] = Redactor(configs[key].secrets())
        yield Bench(relay, configs, redactors)


def hooks(bench: Bench, config: Config, redactor: Redactor) -> Hooks:
    def client(deadline: float) -> HttpClient:
        http = HttpClient(config.http, redactor, deadline=deadline)
        http.session.mount("http://", InProcess(bench.relay))
        # No proxy can stand between a request and the in-process relay: not reading the proxy variables
        # (requests walks the whole environment for them twice a request) saves time, and checks nothing.
        http.session.trust_env = False
        return http

    return Hooks(http_factory=client)


# --- the plan -------------------------------------------------------------------------------------------


def amounts(top: int = 3_000_000) -> st.SearchStrategy[Decimal]:
    """Six-decimal amounts (0 included: an idle key)."""
    return st.integers(0, top).map(lambda n: Decimal(n).scaleb(-6))


@dataclass(frozen=True)
class Step:
    command: str  # report | check
    gap: int = 3600  # true seconds since the previous run
    offset: int | None = 0  # the clock's error at this run, seconds (negative: behind)
    spend: Decimal = Decimal("0.061234")  # main's used goes up by this
    reset: Decimal | None = None  # main's used goes down by this (at least a micro-dollar)
    raise_total: Decimal | None = None  # main's total goes up by this (a top-up of a relay key)
    switch_key: bool = False  # main's api_key is edited to the other key
    purse: Decimal = Decimal("0.5")  # the purse's balance goes down by this ...
    purse_topup: Decimal | None = None  # ... or up by this
    break_line: int | None = None  # before the run: a byte changed by hand in an earlier line (which one, mod)
    state: str | None = None  # before the run: "delete" or "damage" state.json
    crash: tuple[str, int, int] | None = None  # after the run: ("byte", k, 0) or ("edge", line, -1/0/+1)


def maybe(strategy: st.SearchStrategy[Any], one_in: int) -> st.SearchStrategy[Any]:
    """``strategy`` about once in ``one_in`` draws, else None."""
    return st.one_of(*[st.none()] * (one_in - 1), strategy)


GAPS = st.one_of(st.just(0), st.integers(1, 59 * 60), st.integers(3600, 12 * 3600), st.integers(3600, 12 * 3600),
                 st.integers(12 * 3600, 36 * 3600))  # the same second, minutes, hours, a day
CLOCKS = st.one_of(st.none(), st.none(), st.none(), st.just(0), st.integers(-DAY, -60),
                   st.integers(3600, DAY))  # keep, set right, behind, ahead
STEP = st.builds(
    Step,
    command=st.sampled_from(["report", "check", "check"]),
    gap=GAPS,
    offset=CLOCKS,  # None: the clock keeps its error (see plans)
    spend=amounts(),
    reset=maybe(amounts(5_000_000).map(lambda d: d + Decimal("1e-6")), 4),
    raise_total=maybe(amounts(20_000_000), 4),
    switch_key=st.integers(0, 7).map(lambda n: n == 0),
    purse=amounts(),
    purse_topup=maybe(amounts(20_000_000), 4),
    break_line=maybe(st.integers(0, 10_000), 6),
    state=st.sampled_from([None] * 8 + ["delete", "damage"]),
    crash=maybe(st.one_of(st.tuples(st.just("byte"), st.integers(0, 10_000), st.just(0)),
                          st.tuples(st.just("edge"), st.integers(0, 1), st.sampled_from([-1, 0, 1]))), 3),
)


@st.composite
def plans(draw: st.DrawFn) -> list[Step]:
    """5-25 runs; a clock that goes wrong stays wrong until it is set again."""
    raw = draw(st.lists(STEP, min_size=5, max_size=25))
    steps, offset = [], 0
    for i, step in enumerate(raw):
        offset = 0 if not i else offset if step.offset is None else step.offset
        steps.append(dataclasses.replace(step, gap=step.gap if i else 0, offset=offset))
    return steps


# --- running a plan -------------------------------------------------------------------------------------


def partition(command: str, moment: datetime) -> str:
    """docs/operations.md: reports a file a month, checks a file a day (UTC)."""
    utc = moment.astimezone(timezone.utc)
    return f"reports-{utc:%Y-%m}.jsonl" if command == "report" else f"checks-{utc:%Y-%m-%d}.jsonl"


def break_a_line(log: Path, model: Model, pick: int) -> None:
    """A byte changed by hand in a readable line (a structural one, so the line no longer parses)."""
    found = []
    for path in sorted(log.glob("*.jsonl")):
        data = path.read_bytes()
        start = 0
        for text in data.split(b"\n")[:-1]:
            try:
                value = json.loads(text)
            except ValueError:
                value = None
            if isinstance(value, dict):
                found.append((path, start, text, value))
            start += len(text) + 1
    if not found:
        return
    path, start, text, value = found[pick % len(found)]
    # Outside the strings: the braces, and each key's opening quote and colon.
    places = [0, len(text) - 1, *(m.start() for m in re.finditer(rb'"\w+": ', text)),
              *(m.end() - 2 for m in re.finditer(rb'"\w+": ', text))]
    at = places[(pick // len(found)) % len(places)]
    edited = bytearray(path.read_bytes())
    edited[start + at] = ord("#")
    path.write_bytes(bytes(edited))
    with pytest.raises(ValueError):
        json.loads(bytes(edited[start:start + len(text)]))
    model.records = [r for r in model.records if (r.seq, r.account) != (value["seq"], value["account"])]


def damage_state(log: Path, model: Model, how: str) -> None:
    state = log / "state.json"
    if not state.exists():
        return
    if how == "delete":
        state.unlink()
    else:
        text = state.read_bytes()
        state.write_bytes(text[: len(text) * 2 // 3])  # cut short: no longer JSON
    model.state_next = None


def crash(log: Path, command: str, now: datetime, how: tuple[str, int, int], state_before: bytes | None,
          written: list[Rec], model: Model, state_next_before: int | None) -> None:
    """What a kill -9 mid-append leaves: the run's one write cut at a byte, and the state it never wrote."""
    path = log / partition(command, now)
    data = path.read_bytes()
    lines = data.split(b"\n")[:-1][-len(written):]
    ends = [sum(len(t) + 1 for t in lines[: i + 1]) for i in range(len(lines))]  # where each line ends
    kind, a, b = how
    keep = a % ends[-1] if kind == "byte" else min(max(ends[a] + b, 0), ends[-1] - 1)
    path.write_bytes(data[: len(data) - ends[-1] + keep])
    state = log / "state.json"
    if state_before is None:
        state.unlink(missing_ok=True)
    else:
        state.write_bytes(state_before)
    model.state_next = state_next_before
    # The records whose whole text survived land: a line cut short is lost. A whole record that lost only
    # its newline is a record (the next run's repair keeps it, and every reader reads it).
    lost = {r.account for r, end in zip(written, ends) if keep < end - 1}
    how_cut = ", a whole one without its newline" if keep + 1 in ends else ", one cut short" if keep not in ends else ""
    event(f"crash: {len(lost)} of {len(written)} records lost{how_cut}")
    model.records = [r for r in model.records if not (r.seq == written[0].seq and r.account in lost)]


def export(config: Config) -> list[dict[str, Any]]:
    out = io.StringIO()
    assert history_export(config, out, None, None, None) == 0
    return [json.loads(t) for t in out.getvalue().splitlines()]


def exported(r: Rec) -> dict[str, Any]:
    return {"seq": r.seq, "time": r.time.isoformat(timespec="seconds"), "account": r.account, "run": r.run,
            "key_fingerprint": r.fp, "provider": r.provider, "ok": True, "currency": "USD", "balance": r.balance,
            "used": r.used, "total": r.total, "unlimited": False, "error": None}


def as_read(value: dict[str, Any]) -> dict[str, Any]:
    """An exported line with its amounts as numbers (the text keeps the provider's digits)."""
    return {**value, **{k: None if value[k] is None else Decimal(value[k]) for k in ("balance", "used", "total")}}


def play(bench: Bench, plan: list[Step]) -> None:
    relay = bench.relay
    relay.tokens.clear()
    relay.tokens.update({KEY_A[3:]: Token(total=Decimal("1000"), used=Decimal("12.345678")),
                         KEY_B[3:]: Token(total=Decimal("300"), used=Decimal("1.5")),
                         KEY_P[3:]: Token(total=Decimal("100.000001"), used=Decimal(0))})
    with tempfile.TemporaryDirectory() as folder:
        log = Path(folder) / "log"
        configs = {k: dataclasses.replace(c, history=dataclasses.replace(
            c.history, folder=log, file=Path(folder) / "api_usage_history.json")) for k, c in bench.configs.items()}
        model = Model()
        key, true = KEY_A, START
        for n, step in enumerate(plan):
            if true + timedelta(seconds=step.gap) - START <= SPAN:
                true += timedelta(seconds=step.gap)
            now = true + timedelta(seconds=step.offset or 0)
            if step.switch_key:
                key = KEY_B if key == KEY_A else KEY_A
            token, purse = relay.tokens[key[3:]], relay.tokens[KEY_P[3:]]
            token.used += step.spend
            if step.reset is not None:
                token.used = max(token.used - step.reset, Decimal(0))
            if step.raise_total is not None:
                token.total += step.raise_total
            if step.purse_topup is not None:
                purse.total += step.purse_topup
            else:
                purse.total -= step.purse
            assert token.total - token.used > 100 and purse.total > 1  # never exhausted: the plan's bounds
            if step.break_line is not None:
                break_a_line(log, model, step.break_line)
            if step.state is not None:
                damage_state(log, model, step.state)
            state = log / "state.json"
            state_before = state.read_bytes() if state.exists() else None
            state_next_before = model.state_next

            # The model's view of this run: the records that landed, and this run's snapshots.
            seq = model.next_seq()
            fresh = [Rec(seq, now, "main", step.command, fingerprint(key), "openai-billing", token.total - token.used,
                         token.used, token.total),
                     Rec(seq, now, "purse", step.command, fingerprint(KEY_P), "json", purse.total, None, None)]
            want = [expected_account([*model.series(r.account), r], step.command, now) for r in fresh]
            trends = [trend([*model.series(r.account), r], now) for r in fresh]
            for w in want:  # what the plans reach (pytest --hypothesis-show-statistics)
                p = w["period"]
                event(f"{w['name']}: {p['kind']}{' approximate' if p['approximate'] else ''}, {p['reason']}")
                event(f"{w['name']}: burn rate {'known' if w['burn_rate_per_day'] else 'null'}"
                      f"{', low_days' if w['low_days'] else ''}")

            config = configs[key]
            redactor = bench.redactors[key]
            hooked = hooks(bench, config, redactor)
            outcome: Outcome = run_once(config, redactor, now, command=step.command, hooks=hooked)
            where = f"run {n + 1} ({step.command} at {now.isoformat()}, seq {seq})"
            assert outcome.exit_code & ~1 == 0, where
            assert outcome.document["accounts"] == want, where
            assert [a.trend for a in sorted(outcome.report.accounts, key=lambda a: a.name)] == trends, where

            model.records += fresh
            model.state_next = seq + 1
            if step.crash is not None:
                crash(log, step.command, now, step.crash, state_before, fresh, model, state_next_before)
            got = [as_read(v) for v in export(config)]
            assert got == [exported(r) for r in sorted(model.records, key=lambda r: (r.seq, r.account))], where


@settings(max_examples=int(os.environ.get("H18_EXAMPLES", "400")), deadline=None,
          suppress_health_check=[HealthCheck.too_slow, HealthCheck.data_too_large])
@given(plan=plans())
def test_the_history_is_what_the_model_of_the_spec_says(bench: Bench, plan: list[Step]) -> None:
    play(bench, plan)


# --- what the model found -------------------------------------------------------------------------------


def test_a_record_that_lost_only_its_newline_is_read_and_its_seq_not_reused(bench: Bench) -> None:
    """A run killed after writing its first record but before that line's newline (its second record lost):
    the record is whole, so the next run's repair keeps it. The next run read it as torn, though: it took
    the same seq (two runs with one seq) and measured main's period without it."""
    play(bench, [Step("report"), Step("check", crash=("edge", 0, -1)), Step("check")])


def test_a_last_record_that_lost_only_its_newline_is_in_the_next_runs_period(bench: Bench) -> None:
    """The same for the run's last record: the next run measured the purse's period from the run before."""
    play(bench, [Step("report"), Step("check", crash=("edge", 1, -1)), Step("check")])


H = 3600


def test_the_week_of_the_burn_rate_ends_at_the_first_step_that_began_before_it(bench: Bench) -> None:
    """SPEC-silent, the code's reading: going back in seq order, the week ends at the first step whose first
    snapshot is older than 7x24 h by the clock, even when a step before it (a clock a day ahead) is not."""
    spend = Decimal("1.000001")
    play(bench, [Step("report", gap=0), Step("check", gap=12 * H, spend=spend),
                 Step("check", gap=H, offset=DAY, spend=spend), Step("check", gap=H, offset=-DAY, spend=spend),
                 Step("check", gap=H, spend=spend), Step("report", gap=6 * DAY + 5 * H, spend=spend)])
