"""Every documented heartbeat URL form, against a loopback service that judges pings the way
Healthchecks.io and Uptime Kuma do: a failed run must be seen as failed, and a run that only found a
low key (exit 1: the job did its work) as a success, whatever the form."""

from __future__ import annotations

import logging
from pathlib import Path
from urllib.parse import parse_qs, urlsplit

import pytest

from monitor.emulators import FeishuBotEmulator, RelayEmulator, Request, json_answer
from monitor.notify.heartbeat import ping, succeeded, url_for
from monitor.redact import Redactor, url_secrets
from tests.conftest import cli_run
from tests.support.helpers_ops import HeartbeatServer, closed_port
from tests.unit.notify.test_heartbeat import heartbeat_setup

UUID = "5bf1a9e2-41f0-4a3c-9d7e-0c8f2b6a1d34"
KUMA_TOKEN = "pU5hT0k3nKuma"


class CheckService(HeartbeatServer):
    """What the service concludes from each ping: "up" or "down", and the message it shows.

    - ``/ping/<uuid>`` (Healthchecks.io): success; ``/ping/<uuid>/<n>``: success only for 0;
      ``/ping/<uuid>/fail``: failure. The query string is ignored, as Healthchecks ignores it.
    - ``/api/push/<token>?status=…&msg=…`` (Uptime Kuma): down only when ``status=down``; shows ``msg``.
    - ``/hb/<n>`` (a plain receiver, no placeholder): success only for 0, as Healthchecks reads it.
    - ``/code/<n>``: a receiver of the raw exit code (``{code}``), which judges it by the SPEC's rule.
    """

    def __init__(self) -> None:
        super().__init__()
        self.verdicts: list[str] = []
        self.messages: list[str] = []

    def handle(self, request: Request) -> tuple[int, dict[str, str], bytes]:
        url = urlsplit(request.path)
        parts = url.path.strip("/").split("/")
        if parts[0] == "ping":
            tail = parts[2:]
            verdict = "down" if tail and tail[0] != "0" else "up"
        elif parts[:2] == ["api", "push"]:
            query = parse_qs(url.query)
            verdict = "down" if query.get("status") == ["down"] else "up"
            self.messages.append(query.get("msg", [""])[0])
        elif parts[0] == "code":
            verdict = "up" if int(parts[1]) in (0, 1) else "down"
            self.messages.append(parts[1])
        else:
            verdict = "up" if parts[-1] == "0" else "down"
        self.verdicts.append(verdict)
        return json_answer(200, "OK")


FORMS = {
    "Healthchecks.io": "/ping/{uuid}",
    "Healthchecks.io with a query": "/ping/{uuid}?rid=abc",
    "Healthchecks.io with a trailing slash and a query": "/ping/{uuid}/?rid=abc&create=1",
    "plain": "/hb",
    "{code}": "/code/{{code}}",
    "Uptime Kuma push": "/api/push/" + KUMA_TOKEN + "?status={{status}}&msg=exit+{{code}}&ping=",
}
# Every exit code a run can end with, and whether the heartbeat service must call it a success.
CODES = {0: True, 1: True, 2: False, 3: False, 4: False, 5: False, 6: False, 8: False, 9: False, 15: False,
         64: False, 66: False, 70: False, 75: False, 78: False, 130: False, 143: False}


@pytest.mark.parametrize("form", FORMS)
def test_each_form_is_judged_up_for_exit_0_and_1_and_down_for_every_failure(form: str) -> None:
    with CheckService() as service:
        url = service.url + FORMS[form].format(uuid=UUID)
        for code in CODES:
            assert ping(url, code, Redactor([url])) is True
    assert service.verdicts == ["up" if ok else "down" for ok in CODES.values()], \
        [r.path for r in service.requests]
    if form == "Uptime Kuma push":
        assert service.messages == [f"exit {code}" for code in CODES]  # the code shows as the message
    if form == "{code}":
        assert service.messages == [str(code) for code in CODES]


@pytest.mark.parametrize("form", FORMS)
@pytest.mark.parametrize(("low_balance", "expected_code"), [("5", 0), ("15", 1)])
def test_a_run_with_a_low_key_pings_success_like_a_good_run(
        form: str, low_balance: str, expected_code: int,
        tmp_path: Path, relay: RelayEmulator, bot: FeishuBotEmulator) -> None:
    with CheckService() as service:
        url = service.url + FORMS[form].format(uuid=UUID)
        setup = heartbeat_setup(tmp_path / "etc", relay, bot, url, low_balance=low_balance)
        result = cli_run(["-c", str(setup.config)], tmp_path / "home")
    assert result.returncode == expected_code, result.stderr
    assert service.verdicts == ["up"], [r.path for r in service.requests]


def test_success_is_0_and_1_alone() -> None:
    assert [c for c in range(256) if succeeded(c)] == [0, 1]


def test_the_number_goes_on_the_path_and_the_query_is_kept() -> None:
    assert url_for(f"https://hc-ping.com/{UUID}?rid=abc", 2) == f"https://hc-ping.com/{UUID}/2?rid=abc"
    assert url_for(f"https://hc-ping.com/{UUID}?rid=abc", 1) == f"https://hc-ping.com/{UUID}/0?rid=abc"
    assert url_for(f"https://hc-ping.com/{UUID}/", 0) == f"https://hc-ping.com/{UUID}/0"
    assert url_for("https://hc.example/ping/x#frag", 8) == "https://hc.example/ping/x/8#frag"
    assert url_for("https://hc.example/ping/x", 70) == "https://hc.example/ping/x/70"
    assert url_for("https://kuma.example/api/push/t?status={status}&msg={code}", 4) == \
        "https://kuma.example/api/push/t?status=down&msg=4"
    assert url_for("https://kuma.example/api/push/t?status={status}&msg={code}", 1) == \
        "https://kuma.example/api/push/t?status=up&msg=1"
    assert url_for("https://kuma.example/api/push/t?status={status}", 0) == \
        "https://kuma.example/api/push/t?status=up"


def test_the_ping_url_never_reaches_the_log(caplog: pytest.LogCaptureFixture) -> None:
    class Refusing(HeartbeatServer):
        def handle(self, request: Request) -> tuple[int, dict[str, str], bytes]:
            return json_answer(404, {"error": "no such check"})

    caplog.set_level(logging.DEBUG, logger="monitor")  # urllib3's own lines are silenced by the CLI
    with Refusing() as service:
        url = f"{service.url}/ping/{UUID}"
        assert ping(url, 2, Redactor([url])) is False
        assert ping(url, 1, Redactor([url])) is False
    assert "heartbeat answered HTTP 404" in caplog.text
    assert UUID not in caplog.text


@pytest.mark.parametrize("form", FORMS)
def test_an_unreachable_heartbeat_warns_without_its_token(form: str, caplog: pytest.LogCaptureFixture) -> None:
    caplog.set_level(logging.INFO, logger="monitor")
    url = f"http://127.0.0.1:{closed_port()}" + FORMS[form].format(uuid=UUID)
    for code in (1, 6):
        assert ping(url, code, Redactor(url_secrets(url))) is False
    assert "heartbeat not sent" in caplog.text
    assert UUID not in caplog.text and KUMA_TOKEN not in caplog.text
