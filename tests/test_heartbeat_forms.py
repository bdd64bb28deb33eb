"""Every documented heartbeat URL form, against a loopback service that judges pings the way
Healthchecks.io and Uptime Kuma do: a failed run must be seen as failed, whatever the form."""

from __future__ import annotations

from pathlib import Path
from urllib.parse import parse_qs, urlsplit

import pytest

from monitor.emulators import FeishuBotEmulator, RelayEmulator, Request, json_answer
from monitor.notify.heartbeat import url_for
from tests.conftest import cron_run
from tests.helpers_ops import HeartbeatServer
from tests.test_heartbeat import heartbeat_setup

UUID = "5bf1a9e2-41f0-4a3c-9d7e-0c8f2b6a1d34"


class CheckService(HeartbeatServer):
    """What the service concludes from each ping: "up" or "down".

    - ``/ping/<uuid>`` (Healthchecks.io): success; ``/ping/<uuid>/<n>``: success only for 0;
      ``/ping/<uuid>/fail``: failure. The query string is ignored, as Healthchecks ignores it.
    - ``/api/push/<token>?status=…`` (Uptime Kuma): down only when ``status=down``.
    - ``/hb/<code>``: a plain receiver of the code.
    """

    def __init__(self) -> None:
        super().__init__()
        self.verdicts: list[str] = []

    def handle(self, request: Request) -> tuple[int, dict[str, str], bytes]:
        url = urlsplit(request.path)
        parts = url.path.strip("/").split("/")
        if parts[0] == "ping":
            tail = parts[2:]
            verdict = "down" if tail and tail[0] not in ("0",) else "up"
        elif parts[:2] == ["api", "push"]:
            verdict = "down" if parse_qs(url.query).get("status") == ["down"] else "up"
        else:
            verdict = "up" if parts[-1] == "0" else "down"
        self.verdicts.append(verdict)
        return json_answer(200, "OK")


FORMS = {
    "path": "/ping/{uuid}",
    "path with a query": "/ping/{uuid}?rid=abc",
    "path with a trailing slash and a query": "/ping/{uuid}/?rid=abc&create=1",
    "{code}": "/hb/{{code}}",
    "{status} in the query (Uptime Kuma)": "/api/push/t0k3n?status={{status}}&msg=exit+{{code}}",
}


@pytest.mark.parametrize("form", FORMS)
@pytest.mark.parametrize(("low_balance", "expected_code", "verdict"), [("5", 0, "up"), ("15", 1, "down")])
def test_every_documented_form_tells_a_failed_run_from_a_good_one(
        form: str, low_balance: str, expected_code: int, verdict: str,
        tmp_path: Path, relay: RelayEmulator, bot: FeishuBotEmulator) -> None:
    with CheckService() as service:
        url = service.url + FORMS[form].format(uuid=UUID)
        setup = heartbeat_setup(tmp_path / "etc", relay, bot, url, low_balance=low_balance)
        result = cron_run(["-c", str(setup.config)], tmp_path / "home")
    assert result.returncode == expected_code, result.stderr
    assert service.verdicts == [verdict], [r.path for r in service.requests]


def test_the_code_goes_on_the_path_and_the_query_is_kept() -> None:
    assert url_for(f"https://hc-ping.com/{UUID}?rid=abc", 2) == f"https://hc-ping.com/{UUID}/2?rid=abc"
    assert url_for(f"https://hc-ping.com/{UUID}/", 0) == f"https://hc-ping.com/{UUID}/0"
    assert url_for("https://hc.example/ping/x#frag", 8) == "https://hc.example/ping/x/8#frag"
    assert url_for("https://kuma.example/api/push/t?status={status}&msg={code}", 4) == \
        "https://kuma.example/api/push/t?status=down&msg=4"
    assert url_for("https://kuma.example/api/push/t?status={status}", 0) == \
        "https://kuma.example/api/push/t?status=up"
