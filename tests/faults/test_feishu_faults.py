"""Feishu answers that are not a plain success: believe only code 0, retry what may pass, explain the rest."""

from __future__ import annotations

import json
import time
from collections.abc import Callable
from decimal import Decimal
from pathlib import Path
from typing import Any

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from monitor.emulators import FeishuBotEmulator, RelayEmulator, Token, feishu_error, json_answer
from monitor.http import Response
from monitor.notify import base, feishu
from monitor.notify.base import Result
from monitor.notify.feishu import FeishuSettings
from monitor.redact import Redactor
from tests.conftest import BOT_SECRET, WEBHOOK_TOKEN
from tests.support.faults import leaked, make, run

CARD = {"header": {"title": {"tag": "plain_text", "content": "💵API 余额监控时报"}, "template": "green"},
        "elements": [{"tag": "div", "text": {"tag": "lark_md", "content": "ok"}}]}
TOO_MANY = "frequency limited psm[lark.oapi.app_platform_runtime]appID[1500]"


class FakeTime:
    """Feishu's clock and sleep for in-process sends: no real waiting, but time moves on each call."""

    def __init__(self) -> None:
        self.now = time.time()
        self.sleeps: list[float] = []

    def clock(self) -> float:
        self.now += 61  # a second's resolution would hide a reused timestamp; a minute does not
        return self.now

    def sleep(self, seconds: float) -> None:
        self.sleeps.append(seconds)


def send(bot: FeishuBotEmulator, cards: list[dict[str, Any]] | None = None) -> tuple[Result, FakeTime]:
    fake = FakeTime()
    settings = FeishuSettings(webhook_url=bot.webhook_url, secret=bot.secret)
    channel = feishu.Channel(settings, "feishu", Redactor([WEBHOOK_TOKEN, BOT_SECRET, bot.webhook_url]),
                             clock=fake.clock, sleep=fake.sleep)
    return channel.send(cards or [CARD]), fake


def raw(status: int, body: bytes, content_type: str = "application/json") -> tuple[int, dict[str, str], bytes]:
    return status, {"Content-Type": content_type}, body


@pytest.mark.parametrize("answer", [
    json_answer(200, {"code": 0, "msg": "success", "data": {}}),
    json_answer(200, {"StatusCode": 0, "StatusMessage": "success", "code": 0, "data": {}, "msg": "success"}),
    json_answer(200, {"Extra": None, "StatusCode": 0, "StatusMessage": "success"}),  # the legacy body (2020)
], ids=["code", "both", "legacy"])
def test_delivered_on_2xx_with_code_0_or_legacy_status_code_without_code(answer: Any) -> None:
    with FeishuBotEmulator(token=WEBHOOK_TOKEN, secret=BOT_SECRET, scripted=[answer]) as bot:
        delivery, _ = send(bot)
    assert delivery.delivered and delivery.parts == 1 and delivery.error is None


@pytest.mark.parametrize("answer", [
    json_answer(200, {"code": 19024, "msg": "Key Words Not Found", "StatusCode": 0}),  # StatusCode 0 is no verdict
    json_answer(200, {"code": 19024, "msg": "Key Words Not Found"}),  # no StatusCode: must not default to success
    json_answer(200, {}),
    json_answer(200, {"msg": "success"}),
    raw(200, b""),
    raw(200, b"<html><body>proxy says hello</body></html>", "text/html"),
    raw(200, b"null"),
    json_answer(302, {"code": 0, "msg": "success"}),
    json_answer(404, {"code": 99991201, "msg": "resource not find"}),
    json_answer(200, {"code": False, "msg": "success"}),  # false == 0 in Python, but it is not Feishu's 0
    json_answer(200, {"code": [0], "msg": "success"}),
], ids=["statuscode0-code19024", "code-only", "empty-object", "msg-only", "empty-body", "html", "null", "302",
        "404", "code-false", "code-list"])
def test_not_delivered_unless_2xx_and_code_0(answer: Any) -> None:
    with FeishuBotEmulator(token=WEBHOOK_TOKEN, secret=BOT_SECRET, scripted=[answer]) as bot:
        delivery, _ = send(bot)
        attempts = len(bot.requests)
    assert not delivery.delivered and delivery.error
    assert attempts == 1  # none of these is worth a retry


@pytest.mark.parametrize("first", [
    feishu_error(11232, TOO_MANY),
    feishu_error(9499, "too many request", status=400),
    json_answer(500, {"code": 500, "msg": "internal error"}),
    raw(502, b"<html>Bad Gateway</html>", "text/html"),
    raw(503, b""),
], ids=["11232", "400-too-many-request", "500-json", "502-html", "503-empty"])
def test_rate_limits_and_5xx_are_retried_with_a_fresh_signature(first: Any) -> None:
    with FeishuBotEmulator(token=WEBHOOK_TOKEN, secret=BOT_SECRET, scripted=[first, first]) as bot:
        delivery, fake = send(bot)
        bodies = [json.loads(r.body) for r in bot.requests]
    assert delivery.delivered, delivery.error
    assert len(bodies) == 3 and len(bot.received) == 1
    stamps = [b["timestamp"] for b in bodies]
    assert len(set(stamps)) == 3  # a new timestamp each attempt ...
    assert all(b["sign"] == feishu.sign(b["timestamp"], BOT_SECRET) for b in bodies)  # ... signed anew
    assert len({b["sign"] for b in bodies}) == 3
    assert len(fake.sleeps) == 2 and all(s > 0 for s in fake.sleeps)  # with a backoff between attempts


def test_retries_are_bounded_when_feishu_keeps_throttling() -> None:
    with FeishuBotEmulator(token=WEBHOOK_TOKEN, secret=BOT_SECRET,
                           scripted=[feishu_error(11232, TOO_MANY)] * 50) as bot:
        delivery, fake = send(bot)
        attempts = len(bot.requests)
    assert not delivery.delivered
    assert attempts == base.ATTEMPTS
    assert "11232" in (delivery.error or "") and "off the hour" in (delivery.error or "")


# code -> (Feishu's msg, words the explanation must hold, words of the fix)
REJECTIONS: dict[int, tuple[str, str, str]] = {
    19021: ("sign match fail or timestamp is not within one hour from current time", "signature", "FEISHU_SECRET"),
    19022: ("Ip Not Allowed", "IP", "whitelist"),
    19024: ("Key Words Not Found", "keyword", "feishu.keyword"),
    19001: ("param invalid: incoming webhook access token invalid", "token is invalid", "FEISHU_WEBHOOK_URL"),
    19002: ("params error, msg_type need", "msg_type", "report this as a bug"),
    9499: ("Bad Request", "malformed", "report"),
    11246: ("ErrCode: 11310; ErrMsg: unsupported type of block; ErrorValue: divider", "card", "report"),
    19036: ("The message exceeds the size limit of 30KB", "too large", "report"),
}


@pytest.mark.parametrize("code", list(REJECTIONS))
def test_a_rejection_is_explained_with_its_fix_and_not_retried(code: int) -> None:
    msg, explanation, fix = REJECTIONS[code]
    with FeishuBotEmulator(token=WEBHOOK_TOKEN, secret=BOT_SECRET, scripted=[feishu_error(code, msg)]) as bot:
        delivery, _ = send(bot)
        attempts = len(bot.requests)
    assert attempts == 1
    assert not delivery.delivered
    error = delivery.error or ""
    assert f"code {code}" in error and explanation in error and fix in error, error
    assert not leaked([error])


def _wrong_secret(bot: FeishuBotEmulator, setup: Any) -> None:
    env = setup.folder / ".env"
    env.write_text(env.read_text().replace(f"FEISHU_SECRET={BOT_SECRET}", "FEISHU_SECRET=n0tTh3S3cr3t"))


def _wrong_token(bot: FeishuBotEmulator, setup: Any) -> None:
    env = setup.folder / ".env"
    env.write_text(env.read_text().replace(WEBHOOK_TOKEN, "0000aaaa-6b1c-4111-9f2a-649b5e0ba5f9"))


def _keyword(bot: FeishuBotEmulator, setup: Any) -> None:
    bot.keywords = ("余额告警",)


def _ip(bot: FeishuBotEmulator, setup: Any) -> None:
    bot.scripted.append(feishu_error(19022, "Ip Not Allowed"))


@pytest.mark.parametrize(("code", "break_it"), [(19021, _wrong_secret), (19001, _wrong_token),
                                               (19024, _keyword), (19022, _ip)],
                         ids=["19021", "19001", "19024", "19022"])
def test_an_undelivered_report_sets_bit_4_and_the_history_is_still_saved(
    tmp_path: Path, relay: RelayEmulator, bot: FeishuBotEmulator, code: int,
    break_it: Callable[[FeishuBotEmulator, Any], None],
) -> None:
    setup = make(tmp_path / "etc", relay.url, bot)
    break_it(bot, setup)
    result = run(setup)
    assert result.returncode == 4, result.stderr
    assert f"code {code}" in result.stderr and REJECTIONS[code][2] in result.stderr
    assert bot.received == []
    assert [r["account"] for r in setup.records()] == ["main", "spare"]
    assert len(bot.requests) == 1  # a rejection is not retried
    assert not leaked([result.stdout, result.stderr, *(p.read_text() for p in setup.log.iterdir())])


def test_a_huge_report_goes_in_numbered_parts_under_20_kb_with_the_keyword_at_most_5_a_second(tmp_path: Path) -> None:
    count = 120
    keys = [f"sk-{i:03d}" + "k3yPart" * 7 for i in range(count)]
    names = [f"{i:03d}-" + "一个名字很长很长的中转站账户" * 6 + "-end" for i in range(count)]
    assert all(len(n) <= 100 for n in names)
    tokens = {k[3:]: Token(total=Decimal("20"), used=Decimal("7.66"), name=f"t{i}") for i, k in enumerate(keys)}
    accounts = "accounts:\n" + "".join(f"  - name: {n}\n    api_key: {k}\n" for n, k in zip(names, keys))
    with RelayEmulator(tokens=tokens) as relay, \
            FeishuBotEmulator(token=WEBHOOK_TOKEN, secret=BOT_SECRET, keywords=("ops-kw",)) as bot:
        setup = make(tmp_path / "etc", relay.url, bot, feishu={"keyword": "ops-kw"}, accounts=accounts,
                     http={"per_host": 8, "max_workers": 8})
        (setup.folder / "config.yaml").chmod(0o600)
        result = run(setup)
        requests = list(bot.requests)
    assert result.returncode == 0, result.stderr
    parts = len(requests)
    assert parts >= 3 and len(bot.received) == parts
    for request in requests:
        assert len(request.body) < 20_000
    titles = [m["card"]["header"]["title"]["content"] for m in bot.received]
    assert [t.split("（第 ")[1] for t in titles] == [f"{n}/{parts} 部分）" for n in range(1, parts + 1)]
    assert all("ops-kw" in json.dumps(m, ensure_ascii=False) for m in bot.received)
    times = sorted(r.time for r in requests)
    assert all(times[i + 5] - times[i] >= 1.0 for i in range(len(times) - 5))  # never 6 within a second
    delivered = "".join(json.dumps(m, ensure_ascii=False) for m in bot.received)
    assert all(n in delivered for n in names)


json_like = st.recursive(
    st.one_of(st.none(), st.booleans(), st.integers(), st.floats(allow_nan=False), st.text(max_size=20)),
    lambda inner: st.one_of(st.lists(inner, max_size=3), st.dictionaries(st.text(max_size=10), inner, max_size=3)),
    max_leaves=8,
)
feishu_bodies = st.one_of(
    st.binary(max_size=100),
    st.fixed_dictionaries({}, optional={"code": json_like, "msg": json_like, "StatusCode": json_like,
                                        "StatusMessage": json_like, "data": json_like}).map(
        lambda d: json.dumps(d).encode()),
)


@settings(max_examples=150, deadline=None)
@given(status=st.integers(min_value=100, max_value=599), body=feishu_bodies)
def test_any_feishu_answer_is_a_verdict_never_an_exception(status: int, body: bytes) -> None:
    verdict = feishu.interpret(Response(status, "application/json", body, {}))
    assert verdict.error is None or (isinstance(verdict.error, str) and verdict.error)
    assert isinstance(verdict.retry, bool)
    if verdict.error is None:
        assert 200 <= status < 300
