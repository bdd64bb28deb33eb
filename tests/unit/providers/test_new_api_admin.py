"""The new-api-admin provider against the loopback relay admin API (one-api, new-api 2025-04 and newer, one-hub)."""

from __future__ import annotations

import time
from datetime import datetime, timezone
from decimal import Decimal
from typing import Any

import pytest

from monitor.admin_emulator import FLAVOURS, UNSUPPORTED, Channel, RelayAdminEmulator, User
from monitor.collect import AccountResult, collect
from monitor.config import Account, HttpSettings
from monitor.providers.new_api_admin import NewApiAdminKeys
from monitor.redact import Redactor
from monitor.report import build
from tests.support.provider_servers import account_of

NOW = datetime(2026, 11, 28, 1, 5, tzinfo=timezone.utc)
TOKEN = "AdminAccessT0ken" + "x" * 16
RECENT = int(time.time()) - 600


def entry(relay: RelayAdminEmulator, **overrides: Any) -> Account:
    values: dict[str, Any] = {"name": "站A", "provider": "new-api-admin", "api_key": "", "base_url": relay.url,
                              "access_token": TOKEN, "user_id": "1", "watch": ("channels", "users"),
                              "low_balance": Decimal("10")}
    values.update(overrides)
    return account_of(**values)


def query(relay: RelayAdminEmulator, per_host: int = 4, **overrides: Any) -> list[AccountResult]:
    settings = HttpSettings(retries=0, timeout_seconds=5, per_host=per_host)
    return collect([entry(relay, **overrides)], settings, Redactor([TOKEN]), NOW)


def by_name(results: list[AccountResult]) -> dict[str, AccountResult]:
    return {r.account.name: r for r in results}


@pytest.mark.parametrize("flavour", FLAVOURS)
def test_every_channel_and_user_of_every_page_is_an_account_of_its_own(flavour: str) -> None:
    channels = [Channel(i, f"ch{i}", balance=Decimal(i), updated=RECENT) for i in range(1, 24)]
    users = [User(i, f"user{i}", quota=i * 250000, used_quota=250000) for i in range(1, 217)]
    with RelayAdminEmulator(TOKEN, flavour, channels=channels, users=users) as relay:
        results = query(relay)
    assert len(results) == 1 + 23 + 216
    site, *items = results
    assert (site.account.name, site.kind, site.ok) == ("站A", "site", True)
    found = by_name(results)
    assert found["站A/ch7"].snapshot is not None and found["站A/ch7"].snapshot.balance == Decimal(7)
    user = found["站A/@user3"].snapshot
    assert user is not None
    assert (user.balance, user.used, user.total, user.currency) == (Decimal("1.5"), Decimal("0.5"), Decimal(2), "USD")
    assert all(r.site == "站A" for r in results)
    assert {r.kind for r in items} == {"channel", "user"}
    assert "/api/channel/update_balance" not in relay.paths() and "/api/user/token" not in relay.paths()


def test_users_are_judged_by_user_low_balance_and_channels_by_low_balance() -> None:
    channels = [Channel(1, "main", balance=Decimal("5"), updated=RECENT)]
    users = [User(2, "bob", quota=int(Decimal("0.5") * 500000))]
    with RelayAdminEmulator(TOKEN, channels=channels, users=users) as relay:
        results = query(relay, user_low_balance=Decimal("1"))
    found = by_name(results)
    assert found["站A/main"].account.low_balance == Decimal("10")
    assert found["站A/@bob"].account.low_balance == Decimal("1")
    report = build(results, {}, NOW, timezone.utc, "en", 90)
    lows = {a.name for a in report.accounts if a.low_balance}
    assert lows == {"站A/main", "站A/@bob"}


def test_a_never_refreshed_channel_says_balance_not_available_not_zero() -> None:
    channels = [Channel(1, "azure", type=3, balance=Decimal(0), updated=0)]
    with RelayAdminEmulator(TOKEN, channels=channels) as relay:
        results = query(relay)
    snap = by_name(results)["站A/azure"].snapshot
    assert snap is not None and snap.balance is None and snap.note == "balance not available"
    [line] = [a for a in build(results, {}, NOW, timezone.utc, "en", 90).accounts if a.kind == "channel"]
    assert line.ok and not line.alert and not line.exhausted


def test_disabled_channels_and_users_are_shown_as_disabled_never_failed_never_alerted() -> None:
    channels = [Channel(1, "manual", status=2, balance=Decimal(0), updated=RECENT),
                Channel(2, "auto", status=3, balance=Decimal("-1"), updated=RECENT)]
    users = [User(3, "banned", quota=0, status=2)]
    with RelayAdminEmulator(TOKEN, channels=channels, users=users) as relay:
        results = query(relay, refresh=True)
    assert "/api/channel/update_balance/1" not in relay.paths()  # only enabled channels are refreshed
    report = build(results, {}, NOW, timezone.utc, "en", 90)
    items = {a.name: a for a in report.accounts if a.kind != "site"}
    assert all(a.ok and a.disabled and not a.alert and not a.conditions for a in items.values())
    assert items["站A/manual"].note == "channel disabled"
    assert items["站A/auto"].note == "channel disabled by the relay"
    assert items["站A/@banned"].note == "user disabled"
    assert not report.low and report.failed == 0


def test_refresh_asks_each_enabled_channel_one_request_each_within_per_host_and_never_the_bulk_route() -> None:
    channels = [Channel(i, f"c{i}", balance=Decimal(1), updated=0, refresh=Decimal(i)) for i in range(1, 13)]
    channels += [Channel(20, "azure", type=3, refresh=UNSUPPORTED),
                 Channel(21, "broken", refresh="Incorrect API key provided"),
                 Channel(22, "off", status=2)]
    with RelayAdminEmulator(TOKEN, channels=channels, latency=0.05) as relay:
        results = query(relay, per_host=3, refresh=True)
    paths = relay.paths()
    assert relay.bulk_refreshes == 0 and "/api/channel/update_balance" not in paths
    refreshed = sorted(p for p in paths if p.startswith("/api/channel/update_balance/"))
    assert refreshed == sorted(f"/api/channel/update_balance/{i}" for i in [*range(1, 13), 20, 21])
    assert 1 < relay.most_refreshing <= 3
    found = by_name(results)
    c5 = found["站A/c5"].snapshot
    assert c5 is not None and c5.balance == Decimal(5) and c5.note is None
    azure = found["站A/azure"].snapshot
    assert azure is not None and azure.balance is None and azure.note == "balance not available"
    broken = found["站A/broken"]
    assert not broken.ok and broken.error == "balance refresh failed: Incorrect API key provided"


def test_an_admin_call_that_fails_is_one_failed_account_named_after_the_entry() -> None:
    channels = [Channel(i, f"c{i}") for i in range(1, 50)]
    with RelayAdminEmulator(TOKEN, "new-api", channels=channels) as relay:
        results = query(relay, user_id=None)
    [only] = results
    assert (only.account.name, only.ok, only.kind) == ("站A", False, "site")
    assert only.error is not None and "HTTP 401" in only.error and "New-Api-User" in only.error
    assert "user_id" in only.error


@pytest.mark.parametrize(("overrides", "admin", "expected"), [
    ({"access_token": "wrong-token-123456"}, True, "access token 无效"),
    ({"user_id": "7"}, True, "不匹配"),
    ({}, False, "权限不足"),
])
def test_refusals_in_http_200_or_401_are_the_entrys_failure(overrides: dict[str, Any], admin: bool,
                                                             expected: str) -> None:
    with RelayAdminEmulator(TOKEN, "new-api", channels=[Channel(1, "c")], admin=admin) as relay:
        [only] = query(relay, **overrides)
    assert not only.ok and only.error is not None and expected in only.error


def test_one_hub_needs_no_user_header_and_a_renamed_header_is_sent_as_configured() -> None:
    with RelayAdminEmulator(TOKEN, "one-hub", channels=[Channel(1, "c", balance=Decimal(3), updated=RECENT)]) as relay:
        results = query(relay, user_id=None, watch=("channels",))
    assert [r.account.name for r in results] == ["站A", "站A/c"]
    with RelayAdminEmulator(TOKEN, "one-hub", channels=[Channel(1, "c")]) as relay:
        query(relay, user_header="Veloera-User", user_id="9", watch=("channels",))
    assert all(r.headers.get("veloera-user") == "9" for r in relay.requests if r.path.startswith("/api/channel"))


def test_users_list_failing_alone_fails_the_site_account_and_keeps_the_channels() -> None:
    with RelayAdminEmulator(TOKEN, channels=[Channel(1, "c", balance=Decimal(3), updated=RECENT)],
                            users=[User(1, "u", quota=1)], status={"quota_per_unit": 0}) as relay:
        results = query(relay)
    found = by_name(results)
    assert not found["站A"].ok and found["站A"].error is not None and found["站A"].error.startswith("users: ")
    assert found["站A/c"].ok


def test_deepseek_and_siliconflow_channels_are_yuan_by_each_forks_type_numbers() -> None:
    def currencies(flavour: str, types: list[int]) -> list[str]:
        channels = [Channel(i, f"t{t}", type=t, balance=Decimal(1), updated=RECENT) for i, t in enumerate(types, 1)]
        with RelayAdminEmulator(TOKEN, flavour, channels=channels) as relay:
            results = query(relay, watch=("channels",))
        return [r.snapshot.currency for r in results[1:] if r.snapshot]

    assert currencies("new-api", [1, 43, 40, 20]) == ["USD", "CNY", "CNY", "USD"]
    assert currencies("one-api", [1, 36, 44]) == ["USD", "CNY", "CNY"]
    assert currencies("one-hub", [1, 28, 45, 43]) == ["USD", "CNY", "CNY", "USD"]


def test_two_channels_of_one_name_are_told_apart_by_id_and_names_stay_printable() -> None:
    channels = [Channel(1, "openai"), Channel(2, "openai"), Channel(3, "@bob"), Channel(4, "a\nb"), Channel(5, "")]
    with RelayAdminEmulator(TOKEN, channels=channels) as relay:
        results = query(relay, watch=("channels",))
    assert [r.account.name for r in results[1:]] == ["站A/openai#1", "站A/openai#2", "站A/@bob#3", "站A/a b",
                                                     "站A/#5"]


def test_a_channel_that_was_recreated_under_the_same_name_is_a_new_fingerprint() -> None:
    with RelayAdminEmulator(TOKEN, channels=[Channel(1, "main")]) as relay:
        first = query(relay, watch=("channels",))[1].fingerprint
        relay.channels = [Channel(2, "main")]
        second = query(relay, watch=("channels",))[1].fingerprint
    assert first != second


def test_a_stale_balance_says_how_old_it_is() -> None:
    old = int(time.time()) - 3 * 86400 - 60
    with RelayAdminEmulator(TOKEN, channels=[Channel(1, "old", balance=Decimal(9), updated=old)]) as relay:
        snap = query(relay, watch=("channels",))[1].snapshot
    assert snap is not None and snap.balance == Decimal(9) and snap.note == "balance last refreshed 3 days ago"


def test_the_site_shows_user_quota_as_the_site_displays_it() -> None:
    status = {"quota_per_unit": 500000, "quota_display_type": "CNY", "usd_exchange_rate": 7.3}
    with RelayAdminEmulator(TOKEN, users=[User(1, "amy", quota=1000000)], status=status) as relay:
        results = query(relay, watch=("users",))
    snap = results[1].snapshot
    assert snap is not None and (snap.currency, snap.balance) == ("CNY", Decimal("14.6"))


def test_secrets_in_rows_are_handed_to_the_redactor() -> None:
    user_token = "UserAccessTok" + "9" * 19
    channels = [Channel(1, "c", key="sk-upstream" + "K" * 30, refresh="Incorrect API key provided: sk-upstream"
                        + "K" * 30)]
    with RelayAdminEmulator(TOKEN, "new-api-2025", channels=channels, keys_in_rows=True,
                            users=[User(1, "u", quota=5, access_token=user_token)]) as relay:
        redactor = Redactor([TOKEN])
        results = collect([entry(relay, refresh=True)], HttpSettings(retries=0), redactor, NOW)
    assert user_token not in redactor(f"x {user_token} y")
    error = by_name(results)["站A/c"].error
    assert error is not None and "K" * 30 not in error


# --- the entry in config.yaml ---------------------------------------------------------------------------

SITE_YAML = """\
accounts:
  - name: 站A
    provider: new-api-admin
    base_url: https://relay.example.com
    access_token: ${RELAY_ADMIN_TOKEN}
    user_id: 1
    watch: [channels, users]
    refresh: true
    low_balance: 50
    user_low_balance: 1
"""


def load_text(tmp_path: Any, text: str, env: dict[str, str] | None = None) -> Any:
    from monitor.config import load

    path = tmp_path / "config.yaml"
    path.write_text(text, encoding="utf-8")
    path.chmod(0o600)
    return load(path, env if env is not None else {"RELAY_ADMIN_TOKEN": TOKEN})


def test_a_site_entry_needs_no_api_key_and_its_access_token_is_a_secret(tmp_path: Any) -> None:
    config = load_text(tmp_path, SITE_YAML)
    [site] = config.accounts
    keys = site.keys(NewApiAdminKeys)
    assert (keys.access_token, keys.user_id, keys.user_header, keys.watch, keys.refresh) == (
        TOKEN, "1", "New-Api-User", ("channels", "users"), True)
    assert (site.low_balance, keys.user_low_balance, site.api_key) == (Decimal(50), Decimal(1), "")
    assert TOKEN in config.secrets()


@pytest.mark.parametrize(("text", "expected"), [
    (SITE_YAML.replace("    access_token: ${RELAY_ADMIN_TOKEN}\n", ""), "missing access_token"),
    (SITE_YAML.replace("[channels, users]", "[channels, tokens]"), "'tokens' is not channels or users"),
    (SITE_YAML.replace("user_id: 1", "user_id: root"), "numeric user id"),
    (SITE_YAML.replace("refresh: true", "refresh: yes please"), "must be true or false"),
    (SITE_YAML + "  - name: k\n    provider: deepseek\n    api_key: sk-1234567890\n    watch: [users]\n",
     "applies only to the provider new-api-admin"),
])
def test_a_wrong_site_entry_is_a_configuration_error(tmp_path: Any, text: str, expected: str) -> None:
    from monitor.config import ConfigError

    with pytest.raises(ConfigError) as caught:
        load_text(tmp_path, text)
    assert any(expected in p for p in caught.value.problems), caught.value.problems


# --- answers of odd shapes ------------------------------------------------------------------------------


class OddRelay(RelayAdminEmulator):
    """Answers /api/channel/ with ``odd`` (the rest as new-api does)."""

    odd: Any = None

    def handle(self, request: Any) -> Any:
        from monitor.emulators import json_answer

        if request.path.startswith("/api/channel/?") and self.odd is not None:
            return self.odd if isinstance(self.odd, tuple) else json_answer(200, self.odd)
        return super().handle(request)


def test_a_page_of_null_is_an_empty_list_and_a_page_of_another_shape_fails_the_entry() -> None:
    with OddRelay(TOKEN) as relay:
        relay.odd = {"success": True, "message": "", "data": None}
        assert [r.account.name for r in query(relay, watch=("channels",))] == ["站A"]
        relay.odd = {"success": True, "message": "", "data": {"rows": []}}
        [only] = query(relay, watch=("channels",))
    assert not only.ok and only.error == "answer of an unknown shape (data is neither a list nor a page of items)"


def test_a_wrong_base_url_that_answers_the_web_ui_is_a_clear_error() -> None:
    with OddRelay(TOKEN) as relay:
        relay.odd = (200, {"Content-Type": "text/html"}, b"<!doctype html><title>New API</title>")
        [only] = query(relay, watch=("channels",))
    assert not only.ok and only.error == "response is not JSON (text/html, 'New API')"


def test_a_list_that_ignores_the_page_number_is_read_once_not_forever() -> None:
    with OddRelay(TOKEN) as relay:
        relay.odd = {"success": True, "message": "", "data": [{"id": 1, "name": "a", "status": 1}]}
        results = query(relay, watch=("channels",))
    assert [r.account.name for r in results] == ["站A", "站A/a"]
    assert len(relay.requests) <= 1 + 4  # the first page, then one round of per_host pages that brought nothing


def test_pages_without_their_total_are_read_until_one_is_empty() -> None:
    users = [User(i, f"u{i}", quota=i) for i in range(1, 251)]
    with RelayAdminEmulator(TOKEN, "new-api", users=users, totals=False) as relay:
        results = query(relay, watch=("users",))
    assert len(results) == 1 + 250
    assert [r.account.name for r in results[1:4]] == ["站A/@u1", "站A/@u2", "站A/@u3"]  # by id


def test_refreshes_stop_before_the_runs_time_is_up_and_the_rest_keep_the_listed_balance() -> None:
    channels = [Channel(i, f"c{i}", balance=Decimal(1), updated=RECENT, refresh=Decimal(50)) for i in range(1, 31)]
    with RelayAdminEmulator(TOKEN, channels=channels, latency=0.25) as relay:
        settings = HttpSettings(retries=0, timeout_seconds=1, per_host=1, run_timeout_seconds=4)
        results = collect([entry(relay, refresh=True, watch=("channels",))], settings, Redactor([TOKEN]), NOW)
    assert results[0].ok and len(results) == 31
    balances = [r.snapshot.balance for r in results[1:] if r.snapshot]
    assert len(balances) == 30
    assert 0 < balances.count(Decimal(50)) < 30 and balances.count(Decimal(1)) > 0
