"""`check` end to end: the installed command, as cron runs it every 30 minutes, against the loopback relay
and Feishu bot, on top of a week of half-hourly history written the way the tool writes it."""

from __future__ import annotations

import json
import re
import shutil
import subprocess
import textwrap
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from datetime import datetime, timedelta, timezone
from decimal import Decimal
from pathlib import Path
from typing import Any

import pytest

from monitor import transfer
from monitor.emulators import FeishuBotEmulator, RelayEmulator, Request, Token, feishu_error, json_answer
from monitor.history import History, State
from monitor.redact import fingerprint
from tests.conftest import EXECUTABLE, MAIN_KEY, SPARE_KEY, Setup, cli_run
from tests.support.faults import make, only_for
from tests.support.provider_servers import DEEPSEEK, KEY, ProviderServer, mixed_setup, ok

HALF = timedelta(minutes=30)
WEEK = 7 * 48  # half-hourly checks in 7 days
UNLIMITED_KEY = "sk-" + "Unl1m1t3d" * 5 + "xyz"

ACCOUNTS = textwrap.dedent(
    """\
    accounts:
      - name: main
        api_key: ${MAIN_API_KEY}
      - name: spare
        api_key: ${SPARE_API_KEY}
      - name: unlimited
        api_key: ${UNLIMITED_API_KEY}
    """
)


def usual_step(n: int) -> Decimal:
    """main's spend in its n-th half hour: about $0.12, never twice the same (real traffic is uneven)."""
    return Decimal("0.113457") + Decimal("0.002469") * (n % 7)


MEDIAN = Decimal("0.120864")  # usual_step's median


@dataclass
class Week:
    """A week of half-hourly snapshots, the last one half an hour (and a little) before the test runs.

    ``main`` spends ``usual_step`` every half hour and ends at the relay's ``used``; ``spare`` spends a
    steady $0.01; ``unlimited`` (a key with no limit) is idle all week."""

    now: datetime
    records: list[dict[str, Any]]


def record(moment: datetime, account: str, key: str, used: Decimal, total: Decimal | None,
           run: str = "check") -> dict[str, Any]:
    return {"time": moment.isoformat(timespec="microseconds"), "account": account,
            "key_fingerprint": fingerprint(key), "provider": "openai-billing", "ok": True, "currency": "USD",
            "balance": None if total is None else f"{total - used:f}", "used": f"{used:f}",
            "total": None if total is None else f"{total:f}", "unlimited": total is None, "error": None,
            "note": None, "run": run}


def week(relay: RelayEmulator, now: datetime | None = None) -> Week:
    now = now or datetime.now(timezone.utc)
    main, spare, unlimited = (relay.tokens[k[3:]] for k in (MAIN_KEY, SPARE_KEY, UNLIMITED_KEY))
    records = []
    for k in range(WEEK, 0, -1):  # oldest first; k = 1 is half an hour before now
        moment = now - HALF * k - timedelta(seconds=3, microseconds=271828)
        run = "report" if k % 24 == 7 else "check"  # twice a day a report, as cron's two lines do
        main_used = main.used - sum((usual_step(n) for n in range(1, k)), Decimal(0))
        records += [
            record(moment, "main", MAIN_KEY, main_used, main.total, run),
            record(moment, "spare", SPARE_KEY, spare.used - Decimal("0.010000") * (k - 1), spare.total, run),
            record(moment, "unlimited", UNLIMITED_KEY, unlimited.used, None, run),
        ]
    return Week(now, records)


def write(setup: Setup, records: list[dict[str, Any]], alerts: dict[str, Any] | None = None) -> None:
    """The history folder holding just ``records`` (one run for each time) and what the Feishu group was
    told (``alerts``: per account), as `history import` leaves it."""
    shutil.rmtree(setup.log, ignore_errors=True)
    setup.log.mkdir(mode=0o700)
    history = History(setup.log)
    _, seq = transfer.load(history, records)
    history.write_state(State(next_seq=seq + 1, alerts={"feishu": alerts or {}}))


def files(setup: Setup) -> dict[str, bytes]:
    """Every file of the history folder (the lock aside), by name."""
    return {p.name: p.read_bytes() for p in sorted(setup.log.iterdir()) if p.name != ".lock"}


@pytest.fixture
def relay() -> Iterator[RelayEmulator]:
    tokens = {
        MAIN_KEY[3:]: Token(total=Decimal("100"), used=Decimal("60.123457"), name="main"),
        SPARE_KEY[3:]: Token(total=Decimal("50"), used=Decimal("10.987654"), name="spare"),
        UNLIMITED_KEY[3:]: Token(unlimited=True, used=Decimal("31.415926"), name="unlimited"),
    }
    with RelayEmulator(tokens=tokens) as server:
        yield server


def setup_for(tmp_path: Path, relay: RelayEmulator, bot: FeishuBotEmulator | None, top: str = "",
              accounts: str = ACCOUNTS, history: dict[str, Any] | None = None) -> Setup:
    setup = make(tmp_path / "etc", relay.url, bot, http={"retries": 0}, accounts=accounts, top=top,
                 history=history)
    with (setup.folder / ".env").open("a", encoding="utf-8") as env:
        env.write(f"UNLIMITED_API_KEY={UNLIMITED_KEY}\n")
    return setup


def check(setup: Setup, *args: str) -> subprocess.CompletedProcess[str]:
    return cli_run(["check", "-c", str(setup.config), *args], setup.folder.parent / "home")


def state(setup: Setup) -> dict[str, Any]:
    """What the Feishu group was last told, per account."""
    alerts: dict[str, Any] = json.loads((setup.log / "state.json").read_text(encoding="utf-8"))["alerts"]
    return alerts.get("feishu", {})


def body(message: dict[str, Any]) -> str:
    """What a reader sees in the card: the title and every text block."""
    texts = [message["card"]["header"]["title"]["content"]]
    texts += [e["text"]["content"] for e in message["card"]["elements"] if e["tag"] == "div"]
    return "\n".join(texts)


def mentioned(message: dict[str, Any]) -> bool:
    return any("<at id=all></at>" in e["text"]["content"] for e in message["card"]["elements"] if e["tag"] == "div")


def spend(relay: RelayEmulator, key: str, amount: str) -> None:
    relay.tokens[key[3:]].used += Decimal(amount)


# --- the half-hourly check --------------------------------------------------------------------------------


def test_a_check_with_nothing_new_posts_nothing_and_exits_0(
        tmp_path: Path, relay: RelayEmulator, bot: FeishuBotEmulator) -> None:
    setup = setup_for(tmp_path, relay, bot)
    history = week(relay)
    write(setup, history.records)
    spend(relay, MAIN_KEY, "0.118518")  # an ordinary half hour
    spend(relay, SPARE_KEY, "0.010000")

    result = check(setup)

    assert (result.returncode, result.stdout, result.stderr) == (0, "", "")  # cron mails nothing
    assert bot.requests == []
    records = setup.records()
    assert len(records) == len(history.records) + 3
    assert [(r["account"], r["run"]) for r in records[-3:]] == [("main", "check"), ("spare", "check"),
                                                                 ("unlimited", "check")]
    assert records[-3]["used"] == "60.241975" and records[-3]["balance"] == "39.758025"
    assert state(setup) == {}


def test_a_low_balance_alerts_once_with_a_mention_then_a_top_up_is_announced_with_its_amount(
        tmp_path: Path, relay: RelayEmulator, bot: FeishuBotEmulator) -> None:
    relay.tokens[MAIN_KEY[3:]] = Token(total=Decimal("65.123457"), used=Decimal("60.123457"), name="main")
    setup = setup_for(tmp_path, relay, bot)
    write(setup, week(relay).records)
    spend(relay, MAIN_KEY, "0.118518")  # an ordinary half hour takes it under $5

    low = check(setup)
    assert low.returncode == 1, low.stderr  # the low bit
    [alert] = bot.received
    assert alert["card"]["header"]["template"] == "orange" and mentioned(alert)
    assert "main：余额不足，剩余 $4.8815（阈值 $5.0000）" in body(alert)
    assert "spare" not in body(alert)  # only what changed
    assert list(state(setup)) == ["main"] and list(state(setup)["main"]) == ["low"]

    again = check(setup)
    assert again.returncode == 1 and len(bot.received) == 1  # still low: nothing new to say

    relay.tokens[MAIN_KEY[3:]].total += Decimal("20")  # someone tops the key up
    recovered = check(setup)
    assert recovered.returncode == 0, recovered.stderr
    [_, message] = bot.received
    assert message["card"]["header"]["template"] == "green" and not mentioned(message)
    assert "main 已恢复：充值 $20.0000，剩余 $24.8815" in body(message)
    assert state(setup) == {}

    assert check(setup).returncode == 0 and len(bot.received) == 2


def test_a_relay_answering_500_is_a_failed_alert_and_its_recovery_follows(
        tmp_path: Path, relay: RelayEmulator, bot: FeishuBotEmulator) -> None:
    setup = setup_for(tmp_path, relay, bot)
    write(setup, week(relay).records)

    def broken(request: Request) -> Any:
        return json_answer(500, {"error": {"message": "upstream database is down", "type": "one_api_error"}})

    relay.faults["/v1/dashboard/billing/subscription"] = only_for(MAIN_KEY, broken, relay._subscription)
    failed = check(setup)
    assert failed.returncode == 2, failed.stderr
    [alert] = bot.received
    assert alert["card"]["header"]["template"] == "red" and mentioned(alert)
    assert re.search(r"❌ main：查询失败：.*500", body(alert)), body(alert)
    assert MAIN_KEY not in json.dumps(alert) and not any(MAIN_KEY[3:].encode() in b for b in files(setup).values())

    assert check(setup).returncode == 2 and len(bot.received) == 1  # still failing: quiet

    relay.faults.clear()
    back = check(setup)
    assert back.returncode == 0, back.stderr
    [_, message] = bot.received
    assert "main 已恢复：查询恢复正常" in body(message) and not mentioned(message)
    assert state(setup) == {}


def test_a_key_spending_ten_times_its_usual_rate_is_a_spike_in_the_check_and_the_report(
        tmp_path: Path, relay: RelayEmulator, bot: FeishuBotEmulator) -> None:
    setup = setup_for(tmp_path, relay, bot)
    write(setup, week(relay).records)
    spend(relay, MAIN_KEY, f"{MEDIAN * 10:f}")  # a leaked key: ten half hours' worth in one

    report = cli_run(["run", "-c", str(setup.config), "--dry-run"], setup.folder.parent / "home")
    assert report.returncode == 1
    assert "⚠️ 用量异常：过去 30 分钟用量 $1.2086，约为近 7 天常态速率的" in report.stdout

    result = check(setup, "--json")
    assert result.returncode == 1, result.stderr
    doc = json.loads(result.stdout)
    main = {a["name"]: a for a in doc["accounts"]}["main"]
    assert main["alerts"] == ["spike"] and main["period"]["usage"] == "1.2086"
    usual = Decimal(main["usual_rate_per_day"])
    assert abs(usual - MEDIAN * 48) < Decimal("0.001")  # per day: 48 half hours
    [alert] = bot.received
    assert mentioned(alert)
    text = body(alert)
    found = re.search(r"🔥 main：用量异常：过去 30 分钟用量 \$1\.2086，约为近 7 天常态速率的 ([\d.]+) 倍", text)
    assert found and Decimal("9.9") <= Decimal(found.group(1)) <= Decimal("10.0"), text
    assert "spare" not in text and "unlimited" not in text

    # The spending goes on: nothing new. It stops, and half an hour later (the history moved back by as
    # much) the last 30 minutes are usual again: the spike ended.
    spend(relay, MAIN_KEY, "1.5")
    assert check(setup).returncode == 1 and len(bot.received) == 1
    assert check(setup).returncode == 1 and len(bot.received) == 1  # seconds later: still inside the window
    later = timedelta(minutes=31)
    write(setup, [dict(r, time=(datetime.fromisoformat(r["time"]) - later).isoformat()) for r in setup.records()],
          alerts=state(setup))
    assert check(setup).returncode == 0 and "main 已恢复：用量回到常态" in body(bot.received[-1])


def test_an_idle_week_then_five_dollars_on_a_key_without_limit_is_a_spike(
        tmp_path: Path, relay: RelayEmulator, bot: FeishuBotEmulator) -> None:
    setup = setup_for(tmp_path, relay, bot)
    write(setup, week(relay).records)
    spend(relay, UNLIMITED_KEY, "5.000001")

    result = check(setup)
    assert result.returncode == 1, result.stderr
    [alert] = bot.received
    assert "🔥 unlimited：用量异常：过去 30 分钟用量 $5.0000，而近 7 天几乎没有用量" in body(alert)


def test_an_undelivered_alert_is_posted_again_at_the_next_check(
        tmp_path: Path, relay: RelayEmulator, bot: FeishuBotEmulator) -> None:
    relay.tokens[MAIN_KEY[3:]].used = Decimal("97.123457")  # $2.876543 left, under the $5 threshold
    setup = setup_for(tmp_path, relay, bot)
    write(setup, week(relay).records)
    bot.scripted.append(feishu_error(19021, "sign match fail or timestamp is not within one hour from current time"))

    lost = check(setup)
    assert lost.returncode == 1 | 4, lost.stderr  # low, and undelivered
    assert bot.received == [] and state(setup) == {}  # not told: nothing to remember
    assert "余额不足" in lost.stdout  # cron mails the alert instead

    retried = check(setup)
    assert retried.returncode == 1, retried.stderr
    [alert] = bot.received
    assert mentioned(alert) and "main：余额不足，剩余 $2.8765（阈值 $5.0000）" in body(alert)
    assert list(state(setup)["main"]) == ["low"]


def test_repeat_hours_posts_a_still_active_alert_again_without_a_mention(
        tmp_path: Path, relay: RelayEmulator, bot: FeishuBotEmulator) -> None:
    relay.tokens[MAIN_KEY[3:]].used = Decimal("97.123457")
    setup = setup_for(tmp_path, relay, bot, top="alerts:\n  repeat_hours: 6")
    history = week(relay)
    recent = (history.now - timedelta(hours=5, minutes=50)).astimezone(timezone(timedelta(hours=8)))
    write(setup, history.records, alerts={"main": {"low": recent.isoformat()}})
    assert check(setup).returncode == 1 and bot.requests == []  # posted 5 h 50 min ago: not yet

    long_ago = history.now - timedelta(hours=6, minutes=1)
    write(setup, history.records, alerts={"main": {"low": long_ago.isoformat()}})
    assert check(setup).returncode == 1
    [reminder] = bot.received
    assert "main：余额不足，剩余 $2.8765（阈值 $5.0000）（仍未恢复）" in body(reminder)
    assert not mentioned(reminder)
    posted_at = datetime.fromisoformat(state(setup)["main"]["low"])
    assert posted_at > history.now - timedelta(minutes=1)  # the clock for the next reminder restarts

    assert check(setup).returncode == 1 and len(bot.received) == 1


def test_a_report_delivered_in_between_counts_as_told(
        tmp_path: Path, relay: RelayEmulator, bot: FeishuBotEmulator) -> None:
    relay.tokens[MAIN_KEY[3:]].used = Decimal("97.123457")
    setup = setup_for(tmp_path, relay, bot)
    write(setup, week(relay).records)

    report = cli_run(["run", "-c", str(setup.config)], setup.folder.parent / "home")
    assert report.returncode == 1 and len(bot.received) == 1  # the full report, showing main as low
    assert list(state(setup)["main"]) == ["low"]
    assert check(setup).returncode == 1 and len(bot.received) == 1  # the group already knows


def test_a_dry_run_check_prints_the_alert_and_changes_nothing(
        tmp_path: Path, relay: RelayEmulator, bot: FeishuBotEmulator) -> None:
    relay.tokens[MAIN_KEY[3:]].used = Decimal("97.123457")
    setup = setup_for(tmp_path, relay, bot)
    write(setup, week(relay).records)
    before = files(setup)

    result = check(setup, "--dry-run")
    assert result.returncode == 1 and "main：余额不足，剩余 $2.8765（阈值 $5.0000）" in result.stdout
    assert bot.requests == [] and files(setup) == before


# --- two runs at once -------------------------------------------------------------------------------------


def test_a_check_and_the_report_at_once_keep_both_records_and_one_alert_state(
        tmp_path: Path, relay: RelayEmulator, bot: FeishuBotEmulator) -> None:
    relay.tokens[MAIN_KEY[3:]].used = Decimal("97.123457")
    relay.delay = 0.2  # both queries in flight together: the lock, not luck, keeps them apart
    setup = setup_for(tmp_path, relay, bot, history={"lock_wait_seconds": 30})  # the second waits, never 75
    history = week(relay)
    write(setup, history.records)
    home = setup.folder.parent / "home"
    home.mkdir(parents=True, exist_ok=True)
    env = {"HOME": str(home), "PATH": "/usr/bin:/bin"}
    runs = [subprocess.Popen([str(EXECUTABLE), command, "-c", str(setup.config)], cwd=home, env=env,
                             stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
            for command in ("check", "run")]
    for process in runs:
        _, err = process.communicate(timeout=60)
        assert process.returncode == 1, err

    records = setup.records()
    new = records[len(history.records):]
    assert sorted((r["account"], r["run"]) for r in new) == sorted(
        (name, run) for name in ("main", "spare", "unlimited") for run in ("check", "report"))
    # One run after the other (the second queried once the first had saved): each its own seq, in turn.
    seqs = sorted({r["seq"] for r in new})
    assert len(seqs) == 2 and seqs[1] == seqs[0] + 1 and seqs[0] == records[len(history.records) - 1]["seq"] + 1
    assert [r["time"] for r in records] == sorted(r["time"] for r in records)
    assert list(state(setup)) == ["main"] and list(state(setup)["main"]) == ["low"]
    # The report always posts; the check's alert only if it went first. Either way the group was told
    # once that main is low, and the next check has nothing to add.
    reports = [m for m in bot.received if "余额监控时报" in body(m)]
    alerts = [m for m in bot.received if "余额告警" in body(m)]
    assert len(reports) == 1 and len(alerts) <= 1
    relay.delay = 0
    assert check(setup).returncode == 1 and len(bot.received) == len(reports) + len(alerts)


# --- a report's period over the checks inside it ---------------------------------------------------------


def deepseek_balance(amount: Decimal) -> Any:
    return ok({"is_available": True, "balance_infos": [
        {"currency": "CNY", "total_balance": f"{amount:f}", "granted_balance": "0.00",
         "topped_up_balance": f"{amount:f}"}]})


def day_of_checks(now: datetime, deepseek: Callable[[int], Decimal], main: Callable[[int], Decimal],
                  first: str = "report") -> list[dict[str, Any]]:
    """The report (or ``first``) 12 h 30 min ago, then 24 checks every half hour up to half an hour ago."""
    records = []
    for k in range(25, 0, -1):
        moment = (now - HALF * k - timedelta(seconds=1, microseconds=414214)).astimezone(timezone(timedelta(hours=8)))
        run = first if k == 25 else "check"
        records.append({"time": moment.isoformat(), "account": "DeepSeek", "key_fingerprint": fingerprint(KEY),
                        "provider": "deepseek", "ok": True, "currency": "CNY", "balance": f"{deepseek(k):f}",
                        "used": None, "total": None, "unlimited": False, "error": None, "run": run})
        main_record = record(moment, "main", MAIN_KEY, main(k), Decimal(100), run)
        main_record["time"] = moment.isoformat()
        records.append(main_record)
    return records


@pytest.fixture
def deepseek() -> Iterator[ProviderServer]:
    with ProviderServer(DEEPSEEK) as server:
        yield server


def test_a_report_over_24_checks_with_a_top_up_inside_counts_the_exact_usage(
        tmp_path: Path, relay: RelayEmulator, deepseek: ProviderServer) -> None:
    setup = mixed_setup(tmp_path / "etc", relay, deepseek)
    # drops[k]: the spend in the half hour into snapshot k (0 is the report's own); at 12 a top-up instead
    drops = {k: Decimal("0.123457") + Decimal("0.000100") * k for k in range(25) if k != 12}

    def balance(k: int) -> Decimal:
        return Decimal(150) - sum(d for j, d in drops.items() if j >= k) + (Decimal(100) if k <= 12 else Decimal(0))

    write(setup, day_of_checks(datetime.now(timezone.utc), balance, lambda k: Decimal("60") - Decimal("0.1") * k))
    deepseek.answer(deepseek_balance(balance(0)))

    text = cli_run(["run", "-c", str(setup.config), "--dry-run"], setup.folder.parent / "home")
    spent = sum(drops.values(), Decimal(0))
    assert spent == Decimal("2.991768")
    line = next(line for line in text.stdout.splitlines() if "用量" in line and "¥" in line)
    assert re.search(r"在过去的 12 小时 (29|30) 分钟用量为：¥2\.9918（期间充值 ¥100\.0000，不计入用量）", line), line

    result = cli_run(["run", "-c", str(setup.config), "--json"], setup.folder.parent / "home")
    doc = {a["name"]: a for a in json.loads(result.stdout)["accounts"]}
    period = doc["DeepSeek"]["period"]
    assert (period["kind"], period["usage"], period["topup"], period["approximate"]) == (
        "usage", "2.9918", "100.0000", False)
    assert 12 * 3600 + 29 * 60 < period["elapsed_seconds"] < 12 * 3600 + 31 * 60
    assert doc["main"]["period"]["kind"] == "usage" and doc["main"]["period"]["usage"] == "2.6235"


def test_a_report_over_checks_with_a_reset_inside_says_it_is_approximate(
        tmp_path: Path, relay: RelayEmulator, deepseek: ProviderServer) -> None:
    setup = mixed_setup(tmp_path / "etc", relay, deepseek)

    def used(k: int) -> Decimal:  # $0.25 a half hour; the relay's counter was reset at check 10
        return Decimal("90") - Decimal("0.25") * k if k > 10 else Decimal("60.123457") - Decimal("0.25") * k

    write(setup, day_of_checks(datetime.now(timezone.utc), lambda k: Decimal("88.888888"), used))
    deepseek.answer(deepseek_balance(Decimal("88.888888")))

    text = cli_run(["run", "-c", str(setup.config), "--dry-run"], setup.folder.parent / "home").stdout
    approximate = r"在过去的 12 小时 (29|30) 分钟用量约为：\$6\.0000（期间用量被重置或更换了密钥，为近似值）"
    assert re.search(approximate, text), text

    result = cli_run(["run", "-c", str(setup.config), "--json"], setup.folder.parent / "home")
    main = {a["name"]: a for a in json.loads(result.stdout)["accounts"]}["main"]
    period = main["period"]
    assert (period["kind"], period["approximate"], period["reason"]) == ("reset", True, "reset")
    assert period["usage"] == "6.0000"  # 24 of the 25 steps, $0.25 each; the reset step is not counted


def test_the_first_report_after_checks_measures_since_the_first_check(
        tmp_path: Path, relay: RelayEmulator, deepseek: ProviderServer) -> None:
    # check was scheduled before the first report ran: the report does not say "first record".
    setup = mixed_setup(tmp_path / "etc", relay, deepseek)
    write(setup, day_of_checks(datetime.now(timezone.utc), lambda k: Decimal("88.888888") + Decimal("0.5") * k,
                               lambda k: Decimal("60.123457") - Decimal("0.25") * k, first="check"))
    deepseek.answer(deepseek_balance(Decimal("88.888888")))

    result = cli_run(["run", "-c", str(setup.config), "--json"], setup.folder.parent / "home")
    doc = {a["name"]: a for a in json.loads(result.stdout)["accounts"]}
    assert (doc["main"]["period"]["kind"], doc["main"]["period"]["usage"]) == ("usage", "6.2500")
    assert (doc["DeepSeek"]["period"]["kind"], doc["DeepSeek"]["period"]["usage"]) == ("usage", "12.5000")
    assert doc["main"]["period"]["elapsed_seconds"] > 12 * 3600


def test_check_records_are_pruned_after_check_retention_days_and_reports_kept(
        tmp_path: Path, relay: RelayEmulator, bot: FeishuBotEmulator) -> None:
    setup = setup_for(tmp_path, relay, bot, history={"check_retention_days": 8})
    history = week(relay)
    # A day of older records, reports and checks, from 9 to 8 days ago.
    aged = [dict(r, time=(datetime.fromisoformat(r["time"]) - timedelta(days=2, hours=1)).isoformat())
            for r in history.records if datetime.fromisoformat(r["time"]) < history.now - timedelta(days=6)]
    assert {r["run"] for r in aged} == {"report", "check"}
    assert all(datetime.fromisoformat(r["time"]) < history.now - timedelta(days=8) for r in aged)
    write(setup, aged + history.records)

    assert check(setup).returncode == 0
    kept = setup.records()
    # Whole files go: the checks of each UTC day whose end is more than 8 days ago.
    edge = (history.now - timedelta(days=8)).astimezone(timezone.utc).replace(hour=0, minute=0, second=0,
                                                                                microsecond=0)
    old_checks = [r for r in aged if r["run"] == "check"]
    assert [r for r in old_checks if datetime.fromisoformat(r["time"]) < edge]  # there was something to prune
    assert [without_seq(r) for r in kept if r["run"] == "check" and in_aged(r, aged)] == [
        r for r in old_checks if datetime.fromisoformat(r["time"]) >= edge]
    assert [without_seq(r) for r in kept if r["run"] == "report" and in_aged(r, aged)] == [
        r for r in aged if r["run"] == "report"]  # reports are kept for retention_days (90)
    assert bot.requests == []


def without_seq(record: dict[str, Any]) -> dict[str, Any]:
    return {k: v for k, v in record.items() if k != "seq"}


def in_aged(record: dict[str, Any], aged: list[dict[str, Any]]) -> bool:
    return without_seq(record) in aged


# --- the demo -----------------------------------------------------------------------------------------------


def test_the_demo_tells_the_whole_story_quickly(tmp_path: Path) -> None:
    result = cli_run(["demo"], tmp_path / "home")
    assert result.returncode == 0, result.stderr
    out = result.stdout
    passes = out.split("\n== ")
    assert "💵API 余额监控时报" in passes[1] and "exit code 1" in passes[1]  # the report: spare is low
    assert "(nothing changed: nothing posted)" in passes[2]
    assert re.search(r"🔥 主账户：用量异常：过去 30 分钟用量 \$6\.2252，约为近 7 天常态速率的 [\d.]+ 倍",
                     passes[3])
    assert "✅ 备用账户 已恢复：充值 $20.0000" in passes[4] and "exit code 0" in passes[4]
    # The relay site's low upstream channel: in the report under the site's summary, and its recovery.
    assert "渠道 4 个：正常 1，余额低 1，失败 0，已停用 1，余额不可查 1" in passes[1]
    assert "✅ 自建中转站/deepseek ⚠️" in passes[1]
    assert "✅ 自建中转站/deepseek 已恢复：充值 ¥100.0000" in passes[4]
    assert "3 messages" in passes[5] and "Demo succeeded" in out
    assert "sk-demo" not in out and "demo-signing-secret" not in out and "demo0admin0access" not in out
