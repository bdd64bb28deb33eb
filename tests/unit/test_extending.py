"""docs/architecture.md, "Where to add": a channel is two files, and so is a provider.

A throw-away channel (``pager``) and a throw-away provider (``acme``, with account keys of its own) are each
written as one module, in a package of this test's own, and registered by one line in their table (undone
after the test). Nothing else is told about them: the config loader checks their keys (file, line, "did you
mean", a provider's key refused on another provider's account), check-config describes them with their
secrets masked, and ``run`` and ``test-notify`` query the provider and post to the channel on loopback servers.
"""

from __future__ import annotations

import io
import json
import sys
import textwrap
import threading
from collections.abc import Iterator
from contextlib import contextmanager
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any

import pytest

from monitor import cli, notify
from monitor.providers import PROVIDERS, ProviderInfo

PAGER = '''\
"""A pager service: the report's title and state, posted as JSON to the pager's URL."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any, ClassVar

from monitor.checks import one_of
from monitor.notify import base, fields
from monitor.notify.message import Message
from monitor.redact import mask_url
from monitor.schema import Settings, setting


@dataclass(frozen=True)
class PagerSettings(Settings):
    url: str = field(metadata=fields.HOOK)
    team: str = field(default="ops", metadata=setting(one_of("ops", "night"), secret=False))
    kind: ClassVar[str] = "pager"


SETTINGS = PagerSettings
WHERE_TO_LOOK = "check the pager"


def describe(settings: PagerSettings) -> str:
    return fields.described(mask_url(settings.url), [f"team {settings.team}"])


class Channel(base.Channel[PagerSettings]):
    kind = "pager"

    def render(self, message: Message) -> list[Any]:
        return [base.encode({"team": self.settings.team, "title": message.title, "state": message.state})]

    def attempt(self, part: Any) -> base.Verdict:
        return self.exchange(self.settings.url, part, lambda answer: base.DELIVERED if answer.status == 200
                             else base.Verdict(f"HTTP {answer.status}", retry=answer.status >= 500))
'''

ACME = '''\
"""Acme: ``GET /v1/balance?region=…`` with the key as a bearer token and the ticket in X-Ticket; USD."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

from monitor.checks import nonempty, one_of
from monitor.http import HttpClient
from monitor.providers import base_url, common
from monitor.redact import mask
from monitor.schema import setting
from monitor.settings import Account, ProviderKeys
from monitor.snapshot import Snapshot


@dataclass(frozen=True)
class AcmeKeys(ProviderKeys):
    region: str = field(default="eu", metadata=setting(one_of("eu", "us"), secret=False))
    ticket: str | None = field(default=None, metadata=setting(nonempty, secret=True, required=True))


KEYS = AcmeKeys


def credential(account: Account) -> str:
    return f"key {mask(account.api_key)}, ticket {mask(account.keys(AcmeKeys).ticket or '')}"


def fetch(account: Account, http: HttpClient) -> Snapshot:
    keys = account.keys(AcmeKeys)
    headers = {**common.bearer(account.api_key), "X-Ticket": keys.ticket or ""}
    return from_answer(common.get_json(http, f"{base_url(account)}/v1/balance?region={keys.region}", headers))


def from_answer(body: Any) -> Snapshot:
    return Snapshot(currency="USD", balance=common.amount(common.dig(body, "balance"), "balance"))
'''

PACKAGE = "throwaway_extension"  # the test's own package: nothing of monitor/ is written
TICKET = "tk-acme-5ecret-0123456789"
HOOK_TOKEN = "s3cr3t-pager-token"


@pytest.fixture
def extended(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Iterator[None]:
    """The two places each: its module, and one line in its table."""
    (tmp_path / PACKAGE).mkdir()
    (tmp_path / PACKAGE / "__init__.py").write_text("", encoding="utf-8")
    (tmp_path / PACKAGE / "pager.py").write_text(PAGER, encoding="utf-8")
    (tmp_path / PACKAGE / "acme.py").write_text(ACME, encoding="utf-8")
    monkeypatch.syspath_prepend(str(tmp_path))
    monkeypatch.setitem(notify.CHANNELS, "pager", f"{PACKAGE}.pager")
    monkeypatch.setitem(PROVIDERS, "acme", ProviderInfo(f"{PACKAGE}.acme", None))
    yield
    for name in [name for name in sys.modules if name.startswith(PACKAGE)]:
        del sys.modules[name]


class Recorder(BaseHTTPRequestHandler):
    seen: list[tuple[str, str, dict[str, str], bytes]]

    def do_GET(self) -> None:  # noqa: N802 (http.server's name)
        self.answer(json.dumps({"balance": "12.5"}).encode() if self.path.startswith("/v1/balance") else b"")

    def do_POST(self) -> None:  # noqa: N802
        self.answer(b"{}")

    def answer(self, body: bytes) -> None:
        length = int(self.headers.get("Content-Length") or 0)
        self.seen.append((self.command, self.path, dict(self.headers), self.rfile.read(length)))
        self.send_response(200 if body else 404)
        self.send_header("Content-Type", "application/json")
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)

    def log_message(self, *args: Any) -> None:
        pass


@contextmanager
def loopback() -> Iterator[tuple[str, list[tuple[str, str, dict[str, str], bytes]]]]:
    seen: list[tuple[str, str, dict[str, str], bytes]] = []
    server = ThreadingHTTPServer(("127.0.0.1", 0), type("Handler", (Recorder,), {"seen": seen}))
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        yield f"http://127.0.0.1:{server.server_address[1]}", seen
    finally:
        server.shutdown()
        server.server_close()


def main(config: Path, *args: str) -> tuple[int, str, str]:
    out, err = io.StringIO(), io.StringIO()
    code = cli.main([*args, "-c", str(config)], stdout=out, stderr=err)
    return code, out.getvalue(), err.getvalue()


def write(tmp_path: Path, text: str) -> Path:
    config = tmp_path / "etc" / "config.yaml"
    config.parent.mkdir(exist_ok=True)
    config.write_text(textwrap.dedent(text), encoding="utf-8")
    config.chmod(0o600)
    return config


def test_the_loader_checks_their_keys_as_it_checks_everyone_s(extended: None, tmp_path: Path) -> None:
    config = write(tmp_path, f"""\
        pager:
          url: http://127.0.0.1:9/page/{HOOK_TOKEN}
          team: day
        accounts:
          - {{name: acme1, provider: acme, api_key: sk-acme-0123456789, base_url: http://127.0.0.1:9, region: mars,
              ticket: {TICKET}}}
          - {{name: acme2, provider: acme, api_key: sk-acme-0123456789, base_url: http://127.0.0.1:9, regoin: us}}
          - {{name: ds, provider: deepseek, api_key: sk-ds-0123456789, region: us}}
        """)
    code, out, err = main(config, "check-config")
    assert (code, out) == (78, "")
    said = [line.split("config.yaml:", 1)[1] for line in err.splitlines() if "config.yaml:" in line]
    assert said == [
        "3: pager.team: must be ops or night, not 'day'",
        "5: accounts[0].region: must be eu or us, not 'mars'",
        "7: accounts[1].regoin: unknown key 'regoin' (did you mean 'region'?)",
        "7: accounts[1]: missing ticket",
        "8: accounts[2].region: applies only to the provider acme, not deepseek"], err
    assert TICKET not in err and HOOK_TOKEN not in err


def test_check_config_describes_them_and_run_and_test_notify_use_them(extended: None, tmp_path: Path) -> None:
    with loopback() as (provider_url, asked), loopback() as (pager_url, paged):
        # The provider's own keys come from defaults, as base_url does, for accounts of defaults.provider.
        config = write(tmp_path, f"""\
            pager:
              url: {pager_url}/page/{HOOK_TOKEN}
              team: night
            defaults:
              provider: acme
              region: us
              ticket: {TICKET}
            accounts:
              - {{name: acme1, api_key: sk-acme-0123456789, base_url: {provider_url}}}
            """)
        code, out, err = main(config, "check-config")
        assert code == 0, err
        assert f"pager: http://127.0.0.1:{pager_url.rsplit(':', 1)[1]}/… (team night)" in out
        assert f"acme1  acme  127.0.0.1:{provider_url.rsplit(':', 1)[1]}  key sk-ac…89, ticket tk-ac…89\n" in out
        assert TICKET not in out and HOOK_TOKEN not in out

        code, out, err = main(config, "run", "--json")
        assert code == 0, err
        assert [(method, path, headers["Authorization"], headers["X-Ticket"]) for method, path, headers, _ in asked] \
            == [("GET", "/v1/balance?region=us", "Bearer sk-acme-0123456789", TICKET)]
        [acme1] = json.loads(out)["accounts"]
        assert (acme1["name"], acme1["provider"], acme1["balance"]) == ("acme1", "acme", "12.5000"), acme1
        [(method, path, _, body)] = paged
        assert (method, path, json.loads(body)["team"]) == ("POST", f"/page/{HOOK_TOKEN}", "night")
        assert TICKET not in out + err

        code, out, err = main(config, "test-notify", "--channel", "pager")
        assert code == 0, err
        assert out == "test-notify: pager: the sample report was delivered; check the pager\n"
        assert len(paged) == 2 and json.loads(paged[1][3])["team"] == "night"
