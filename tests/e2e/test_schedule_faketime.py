"""A day of cron along the real timeline, the installed command under Debian's ``faketime``.

Checks at :17 and :47, the report at 09:05 and 21:05 (Asia/Shanghai), one config with a Feishu bot
(working) and a webhook that answers 400 until 20:17. Three keys: ``quiet`` (six-decimal spend),
``leaky`` (its usual $0.20 a half hour, then 20x that from 19:47 to 21:17), ``dry`` ($6 -> $3 -> $1 -> 0,
topped up at 16:47). The clock is stepped back 10 hours for three checks (14:17-15:17) and a day
ahead for one (22:47).

The schedule runs once (module fixture, ~35 s); the tests read what the emulators received, what
cron would have mailed (stdout/stderr) and the exit codes.
"""

from __future__ import annotations

import os
import shutil
import subprocess
import textwrap
from collections.abc import Iterable, Iterator
from dataclasses import dataclass, field
from datetime import datetime, timedelta, timezone
from decimal import Decimal
from typing import Any

import pytest

from monitor.emulators import FeishuBotEmulator, RelayEmulator, Token
from tests.conftest import EXECUTABLE
from tests.support.channel_servers import WebhookReceiver

# One worker runs the whole module: the day (the module fixture) is played once.
pytestmark = pytest.mark.xdist_group("faketime-day")

SHANGHAI = timezone(timedelta(hours=8))
DAY = datetime(2026, 11, 23, tzinfo=SHANGHAI)
KEYS = {name: "sk-" + (name * 16)[:48] for name in ("quiet", "leaky", "dry")}
BAD = (400, {"Content-Type": "text/plain"}, b"bad request: unknown field")
BACK = {(14, 17), (14, 47), (15, 17)}  # checks made with the clock 10 hours behind
AHEAD = (22, 47)  # the check made with the clock a day ahead


def faketime() -> str:
    """The ``faketime`` binary; skip without it, fail when ABM_SYSTEM_TESTS=required."""
    found = shutil.which("faketime")
    if found is None:
        reason = "faketime not installed (Debian package `faketime`: apt-get install faketime)"
        if os.environ.get("ABM_SYSTEM_TESTS") == "required":
            pytest.fail(f"ABM_SYSTEM_TESTS=required but {reason}")
        pytest.skip(reason)
    return found


@dataclass
class Run:
    at: tuple[int, int]  # the real (Shanghai) hour and minute of the cron slot
    command: str
    code: int
    stdout: str
    stderr: str
    feishu: list[str]  # the texts of the cards the bot accepted during this run
    webhook_tries: int  # requests the webhook received (answered 400 or accepted)


@dataclass
class Day:
    runs: list[Run] = field(default_factory=list)

    def at(self, hour: int, minute: int) -> Run:
        return next(r for r in self.runs if r.at == (hour, minute))

    def posted(self, skip: Iterable[tuple[int, int]] = ()) -> list[tuple[tuple[int, int], str]]:
        skip = set(skip)
        return [(r.at, text) for r in self.runs if r.at not in skip for text in r.feishu]


def card_text(body: dict[str, Any]) -> str:
    card = body.get("card") or {}
    parts = [((card.get("header") or {}).get("title") or {}).get("content") or ""]
    for element in card.get("elements") or []:
        parts.append((element.get("text") or {}).get("content") or element.get("content") or "")
    return "\n".join(parts)


def account_part(text: str, name: str) -> str:
    """An account's lines in a report card (its bold name, then its lines up to the next account)."""
    parts = text.split("**")
    for i in range(1, len(parts) - 1, 2):
        if name in parts[i].split():
            return parts[i + 1]
    raise AssertionError(f"{name} not in the card: {text}")


def slots() -> Iterator[tuple[datetime, str]]:
    """Every cron slot of the day: checks at :17 and :47 from 00:17 to 23:47, reports at 09:05, 21:05."""
    for hour in range(24):
        if hour in (9, 21):
            yield DAY.replace(hour=hour, minute=5), "run"
        for minute in (17, 47):
            yield DAY.replace(hour=hour, minute=minute), "check"


@pytest.fixture(scope="module")
def day(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Day]:
    binary = faketime()
    folder = tmp_path_factory.mktemp("schedule")
    home, etc = folder / "home", folder / "etc"
    home.mkdir()
    etc.mkdir()
    tokens = {
        "quiet": Token(total=Decimal("100"), used=Decimal("10.000000"), name="quiet"),
        "leaky": Token(total=Decimal("500"), used=Decimal("50"), name="leaky"),
        "dry": Token(total=Decimal("20"), used=Decimal("14"), name="dry"),
    }
    with RelayEmulator(tokens={KEYS[n][3:]: t for n, t in tokens.items()}) as relay, \
            FeishuBotEmulator(token="t0ken-of-the-bot") as bot, WebhookReceiver() as hook:
        # No signing secret: the bot checks a signature's timestamp against the real clock.
        (etc / "config.yaml").write_text(textwrap.dedent(f"""\
            timezone: Asia/Shanghai
            feishu:
              webhook_url: ${{FEISHU_WEBHOOK_URL}}
              mention_on_alert: [all]
            webhook:
              url: ${{REPORT_WEBHOOK_URL}}
            defaults:
              provider: openai-billing
              base_url: {relay.url}
              low_balance: 5
            accounts:
              - name: quiet
                api_key: ${{QUIET_KEY}}
              - name: leaky
                api_key: ${{LEAKY_KEY}}
              - name: dry
                api_key: ${{DRY_KEY}}
            """), encoding="utf-8")
        env = {"FEISHU_WEBHOOK_URL": bot.webhook_url, "REPORT_WEBHOOK_URL": hook.hook_url,
               **{f"{n.upper()}_KEY": k for n, k in KEYS.items()}}
        (etc / ".env").write_text("".join(f"{k}={v}\n" for k, v in env.items()), encoding="utf-8")
        os.chmod(etc / ".env", 0o600)
        hook.scripted[:] = [BAD] * 1000
        result = Day()
        for moment, command in slots():
            at = (moment.hour, moment.minute)
            # What happened at the relay in the half hour before this slot.
            if command == "check":
                tokens["quiet"].used += Decimal("0.012345")
                tokens["leaky"].used += Decimal("4") if (19, 47) <= at <= (21, 17) else Decimal("0.2")
            if at == (10, 47):
                tokens["dry"].used = tokens["dry"].total - 3
            elif at == (11, 47):
                tokens["dry"].used = tokens["dry"].total - 1
            elif at == (12, 47):
                tokens["dry"].used = tokens["dry"].total
            elif at == (16, 47):
                tokens["dry"].total += 30
            elif at == (20, 17):
                hook.scripted.clear()  # the webhook's receiver is fixed
            clock = moment - timedelta(hours=10) if at in BACK else moment + timedelta(days=1) if at == AHEAD \
                else moment
            seen, tries = len(bot.received), len(hook.requests)
            done = subprocess.run(
                ["/usr/bin/env", "-i", f"HOME={home}", "PATH=/usr/bin:/bin", "TZ=UTC", binary,
                 f"{clock.astimezone(timezone.utc):%Y-%m-%d %H:%M:03}", str(EXECUTABLE), command,
                 "-c", str(etc / "config.yaml")],
                cwd=home, capture_output=True, text=True, timeout=60)
            result.runs.append(Run(at, command, done.returncode, done.stdout, done.stderr,
                                   [card_text(b) for b in bot.received[seen:]], len(hook.requests) - tries))
        yield result


def test_a_day_of_cron_tells_each_change_once_and_retries_only_the_broken_channel(day: Day) -> None:
    # The clock step's own runs (and the one after it) are judged by the next test.
    around_step = BACK | {(15, 47)}
    posted = day.posted(skip=around_step)

    # Nothing crashed; each run is a pass the contract knows.
    for run in day.runs:
        assert run.code in (0, 1, 4, 5), (run.at, run.code, run.stderr)
        assert "Traceback" not in run.stderr

    # The quiet key never alerts, and the first hours are quiet: exit 0, nothing posted, nothing mailed.
    assert not any("quiet：" in text and "🚨" in text for _, text in posted)
    for hm in [(0, 17), (0, 47), (8, 47)]:
        run = day.at(*hm)
        assert (run.code, run.feishu, run.stdout, run.stderr) == (0, [], "", "")

    # The leak: announced once (at the first check of its span), shown in the 21:05 report, recovered once.
    leaks = [(at, t) for at, t in posted if "🔥 leaky" in t]
    assert [at for at, _ in leaks] == [(19, 47)], leaks
    assert "用量异常" in leaks[0][1] and "<at id=all>" in leaks[0][1]  # @mentions when it starts
    report = day.at(21, 5)
    assert len(report.feishu) == 1 and "💵API 余额监控时报 2026-11-23 21:05" in report.feishu[0]
    leaky_part = account_part(report.feishu[0], "leaky")
    assert "用量异常" in leaky_part, leaky_part
    assert day.at(21, 17).feishu == []  # the report told it: the next check does not post it again
    recovered = [at for at, t in posted if "leaky 已恢复" in t]
    # 21:47 or 22:17: a check's span reaches back to 21:17 or 20:47 by the second its start-up takes.
    assert len(recovered) == 1 and (21, 47) <= recovered[0] <= (22, 17), recovered

    # The period usage is exact across the clock steps: no fake reset, nothing approximate.
    # quiet: 24 checks x $0.012345 between the reports; leaky: 21 x $0.20 + 3 x $4.00 (19:47-20:47).
    assert "在过去的 12 小时用量为：$0.2963" in account_part(report.feishu[0], "quiet")
    assert "在过去的 12 小时用量为：$16.2000" in leaky_part
    for run in day.runs:
        for text in run.feishu:
            assert "重置" not in text and "近似值" not in text, (run.at, text)

    # The key running dry: low at $3, exhausted at 0 (its own alert), each announced once; the top-up says so.
    lows = [at for at, t in posted if "dry：余额不足" in t]
    assert lows == [(10, 47)], lows
    dry_out = [at for at, t in posted if "dry：额度已用尽" in t]
    assert dry_out == [(12, 47)], dry_out
    topped = [t for at, t in posted if at == (16, 47) and "dry 已恢复" in t]
    assert topped and "充值 $30.0000" in topped[0], posted
    assert day.at(12, 47).code & 1 and day.at(16, 17).code & 1 and not day.at(17, 17).code & 1

    # The broken webhook: tried again at every check while it owes an alert, with bit 4 and the alert on
    # stdout for cron's mail, while Feishu (which took it) is not posted to again.
    owed = day.at(11, 17)
    assert owed.webhook_tries == 1 and owed.code == 5
    assert "dry：余额不足" in owed.stdout and "webhook" in owed.stderr
    assert not any("余额不足" in text for text in owed.feishu), owed.feishu
    assert day.at(9, 5).code == 4  # the report reached Feishu, not the webhook
    # Fixed at 20:17: the webhook gets the leak it missed; Feishu does not get it twice.
    fixed = day.at(20, 17)
    assert fixed.webhook_tries == 1 and fixed.feishu == [] and fixed.code == 1 and fixed.stdout == ""
    assert day.at(21, 5).code == 1 and day.at(21, 5).stdout == ""  # delivered everywhere: nothing mailed


def test_the_clock_stepped_back_posts_nothing_new(day: Day) -> None:
    """14:17-15:17 run with the clock 10 hours behind (fake 04:17-05:17, after the 03:47 check): nothing
    changed at the relay but the usual spend, so Feishu hears nothing and the exit code stays as it was
    (1: dry is exhausted; 5 with the webhook still owed the alert)."""
    before = day.at(13, 47).code
    for hm in sorted(BACK | {(15, 47)}):
        run = day.at(*hm)
        assert run.feishu == [], (hm, run.feishu)
        assert run.code == before, (hm, run.code, run.stdout)
    ahead = day.at(*AHEAD)
    assert ahead.feishu == [] and ahead.code == 0, (ahead.code, ahead.feishu, ahead.stdout)
