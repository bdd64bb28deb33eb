"""A zh report says its notes and our own errors in Chinese; --json keeps the SPEC's English values."""

from __future__ import annotations

import json
import re
from decimal import Decimal
from pathlib import Path

from monitor.emulators import FeishuBotEmulator, RelayEmulator, Token
from monitor.http import Response
from monitor.providers import common
from monitor.report.words import localised
from monitor.snapshot import ProviderError
from tests.conftest import MAIN_KEY, SPARE_KEY, cli_run, config_text, standard_env, write_setup

ACCOUNTS = """\
accounts:
  - name: main
    api_key: ${MAIN_API_KEY}
  - name: slow
    base_url: ${SLOW_URL}
    api_key: ${SPARE_API_KEY}
"""


def test_zh_report_translates_notes_and_errors_but_json_keeps_them(tmp_path: Path) -> None:
    exhausted = {MAIN_KEY[3:]: Token(total=Decimal("20"), used=Decimal("20.000001"), name="main")}
    with RelayEmulator(tokens=exhausted) as relay, \
            RelayEmulator(tokens={SPARE_KEY[3:]: Token()}, delay=1.5) as slow:
        text = config_text(relay.url, extra="http:\n  timeout_seconds: 0.4\n  retries: 0\n", accounts=ACCOUNTS)
        setup = write_setup(tmp_path / "etc", "language: zh\n" + text,
                            {"MAIN_API_KEY": MAIN_KEY, "SPARE_API_KEY": SPARE_KEY, "SLOW_URL": slow.url})
        report = cli_run(["--dry-run", "-c", str(setup.config)], tmp_path / "home")
        document = cli_run(["--dry-run", "--json", "-c", str(setup.config)], tmp_path / "home")
    assert report.returncode == 3, report.stderr
    assert "⚠️ 额度已用尽" in report.stdout
    assert "超时：127.0.0.1:" in report.stdout and "在 0.4 秒内没有应答" in report.stdout
    assert "quota exhausted" not in report.stdout and "timed out" not in report.stdout
    accounts = {a["name"]: a for a in json.loads(document.stdout)["accounts"]}
    assert accounts["main"]["note"] == "quota exhausted"
    assert accounts["slow"]["error"].startswith("timed out after 0.4 s")


DOWN_AND_EMPTY = """\
accounts:
  - name: down
    base_url: http://127.0.0.1:1
    api_key: ${SPARE_API_KEY}
  - name: relay
    api_key: ${MAIN_API_KEY}
"""


def test_a_zh_check_says_its_alerts_in_chinese_as_the_report_does(tmp_path: Path, bot: FeishuBotEmulator) -> None:
    exhausted = {MAIN_KEY[3:]: Token(total=Decimal("20"), used=Decimal("20.000001"), name="relay")}
    with RelayEmulator(tokens=exhausted) as relay:
        text = config_text(relay.url, bot.url, extra="http:\n  retries: 0\n", accounts=DOWN_AND_EMPTY)
        setup = write_setup(tmp_path / "etc", "language: zh\n" + text, standard_env(bot))
        result = cli_run(["check", "-c", str(setup.config)], tmp_path / "home")
    assert result.returncode == 3, result.stderr
    [message] = bot.received
    card = message["card"]
    shown = "\n".join([card["header"]["title"]["content"],
                       *(e["text"]["content"] for e in card["elements"] if e["tag"] == "div")])
    assert "查询失败：无法连接 127.0.0.1:1：连接被拒绝" in shown and "relay：额度已用尽" in shown, shown
    words = set(re.findall(r"[A-Za-z]{3,}", shown)) - {"API", "down", "relay", "all"}  # names; <at id=all>
    assert words == set(), shown


def test_english_and_unknown_texts_are_left_as_they_are() -> None:
    assert localised("quota exhausted", "en") == "quota exhausted"
    assert localised("HTTP 401: 无效的令牌", "zh") == "HTTP 401: 无效的令牌"
    assert localised("cannot reach relay.example.com: connection refused", "zh") == \
        "无法连接 relay.example.com：连接被拒绝"
    assert localised("timed out: no answer within the run's limit of 120 s", "zh") == \
        "超时：在本次运行的 120 秒时限内没有应答"
    assert localised("response is not JSON (text/html, 'Just a moment...')", "zh") == \
        "答复不是 JSON（text/html, 'Just a moment...'）"


def _error_of(status: int, content_type: str, body: bytes) -> str:
    try:
        common.parse(Response(status, content_type, body, {}))
    except ProviderError as exc:
        return str(exc)
    raise AssertionError("no error")


def test_our_error_texts_read_in_chinese_with_the_providers_own_words_kept() -> None:
    cases = {
        _error_of(404, "application/json", b"{}"): "HTTP 404：找不到（base_url 对吗？）",
        _error_of(429, "text/plain", b""): "HTTP 429：被限流（空答复）",
        _error_of(502, "text/html", b"  "): "HTTP 502：网关出错",
        _error_of(200, "text/html", b""): "答复不是 JSON（text/html，正文为空）",
        _error_of(200, "application/json", b'{"success": false}'): "答复中有错误（未说明原因）",
        _error_of(200, "application/json", b'{"error": {"message": "upstream busy"}}'):
            "答复中有错误：upstream busy",
        "HTTP 503: the server asks to wait 150 s, longer than the run has left":
            "HTTP 503：服务器要求等待 150 秒，超出本次运行剩余的时间",
        "relay.example.com asks to wait 90 s more, longer than the run has left":
            "relay.example.com 要求再等待 90 秒，超出本次运行剩余的时间",
        "answer larger than 4 MB; is the URL right?": "答复大于 4 MB；URL 对吗？",
    }
    for name, value in (("data.totalBalance", "1,50"), ("balance", None), ("used", "1e999")):
        try:
            common.amount(value, name)
        except ProviderError as exc:
            cases[str(exc)] = {"data.totalBalance": "字段 'data.totalBalance' 不是普通的十进制数（'1,50'）",
                               "balance": "字段 'balance' 不是数字（null）",
                               "used": "字段 'used' 不是可信的金额（1e999）"}[name]
    try:
        common.dig({"data": {}}, "data.totalBalance")
    except ProviderError as exc:
        cases[str(exc)] = "答复中没有字段 'data.totalBalance'"
    for english, chinese in cases.items():
        assert localised(english, "zh") == chinese, english
        assert localised(english, "en") == english
    # A provider's own message inside is kept as the provider sent it.
    assert localised(_error_of(401, "application/json", b'{"message": "invalid token"}'), "zh") == \
        "HTTP 401: invalid token"
