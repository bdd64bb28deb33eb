"""The litellm-admin provider against a loopback LiteLLM proxy (reference/operators.md §2b, §2c): every key
of every page and every team an account of its own, budgets as the litellm provider reads one key's."""

from __future__ import annotations

from datetime import datetime, timezone
from decimal import Decimal
from typing import Any

import pytest

from monitor.collect import AccountResult, collect
from monitor.config import HttpSettings
from monitor.emulators import json_answer
from monitor.redact import Redactor
from monitor.report import build
from monitor.report.site import render
from monitor.report.words import localised
from tests.support.litellm_emulator import Key, LiteLLMAdminEmulator, Team
from tests.support.provider_servers import account_of

NOW = datetime(2026, 11, 28, 1, 5, tzinfo=timezone.utc)
MASTER = "sk-master-" + "M" * 30


def query(proxy: LiteLLMAdminEmulator, **overrides: Any) -> list[AccountResult]:
    values: dict[str, Any] = {"name": "LiteLLM", "provider": "litellm-admin", "api_key": MASTER,
                              "base_url": proxy.url, "low_balance": Decimal("5")}
    values.update(overrides)
    settings = HttpSettings(retries=0, timeout_seconds=5, per_host=4)
    return collect([account_of(**values)], settings, Redactor([MASTER]), NOW)


def by_name(results: list[AccountResult]) -> dict[str, AccountResult]:
    return {r.account.name: r for r in results}


def test_every_key_of_every_page_and_every_team_is_an_account_of_its_own() -> None:
    keys = [Key(f"sk-virtual-{n:03d}" + "v" * 20, alias=f"bot{n}", spend=Decimal(n), max_budget=Decimal(300))
            for n in range(250)]
    teams = [Team("t-1", "research", Decimal("12.5"), Decimal(100)), Team("t-2", None, Decimal(3))]
    with LiteLLMAdminEmulator(MASTER, keys=keys, teams=teams) as proxy:
        results = query(proxy)
    pages = sorted(p for p in proxy.paths() if p.startswith("/key/list"))
    assert pages == [f"/key/list?return_full_object=true&page={n}&size=100" for n in (1, 2, 3)]
    assert len(results) == 1 + 250 + 2
    found = by_name(results)
    site = found["LiteLLM"]
    assert (site.kind, site.ok, site.site) == ("site", True, "LiteLLM")
    bot7 = found["LiteLLM/bot7"].snapshot
    assert bot7 is not None and (bot7.used, bot7.total, bot7.balance, bot7.currency) == (
        Decimal(7), Decimal(300), Decimal(293), "USD")
    team = found["LiteLLM/team:research"]
    assert team.kind == "team" and team.snapshot is not None and team.snapshot.balance == Decimal("87.5")
    by_id = found["LiteLLM/team:t-2"].snapshot  # no alias: the id; no budget: unlimited
    assert by_id is not None and by_id.unlimited and by_id.balance is None and by_id.used == Decimal(3)
    assert {r.kind for r in results[1:]} == {"key", "team"}
    assert all(r.site == "LiteLLM" for r in results)


def test_the_paginated_team_list_is_read_too() -> None:
    with LiteLLMAdminEmulator(MASTER, teams=[Team("t-9", "ops", Decimal(1), Decimal(2))], team_pages=True) as proxy:
        found = by_name(query(proxy))
    snap = found["LiteLLM/team:ops"].snapshot
    assert snap is not None and snap.balance == Decimal(1)


def test_budget_unlimited_spent_and_blocked_keys_and_the_report() -> None:
    keys = [Key("sk-aaaa" + "1" * 30, alias="fine", spend=Decimal(1), max_budget=Decimal(50)),
            Key("sk-bbbb" + "2" * 30, alias=None, spend=Decimal(9)),
            Key("sk-cccc" + "3" * 30, alias="spent", spend=Decimal("25.5"), max_budget=Decimal(25)),
            Key("sk-dddd" + "4" * 30, alias="stopped", spend=Decimal(0), max_budget=Decimal(10), blocked=True),
            Key("sk-eeee" + "5" * 30, alias="low", spend=Decimal(8), max_budget=Decimal(10))]
    teams = [Team("t-1", "frozen", blocked=True)]
    with LiteLLMAdminEmulator(MASTER, keys=keys, teams=teams) as proxy:
        results = query(proxy)
    found = by_name(results)
    unnamed = f"LiteLLM/{keys[1].token[:8]}"  # no alias: the token's short hash, never the whole
    plain = found[unnamed].snapshot
    assert plain is not None and plain.unlimited
    spent = found["LiteLLM/spent"].snapshot
    assert spent is not None and spent.balance == Decimal("-0.5") and spent.exhausted
    assert spent.note == "key budget reached"
    stopped = found["LiteLLM/stopped"].snapshot
    assert stopped is not None and stopped.exhausted and stopped.note == "key blocked"
    frozen = found["LiteLLM/team:frozen"].snapshot
    assert frozen is not None and frozen.exhausted and frozen.note == "team blocked"

    report = build(results, {}, NOW, timezone.utc, "en", 90)
    alerting = {a.name for a in report.accounts if a.alert}
    assert alerting == {"LiteLLM/spent", "LiteLLM/stopped", "LiteLLM/low", "LiteLLM/team:frozen"}
    assert report.totals == {}  # budgets left are not money held
    text = render(report)
    assert "Keys: 5 — 3 low or spent, 0 failed, 1 without a budget" in text
    assert "Teams: 1 — 1 low or spent, 0 failed, 1 without a budget" in text
    assert "LiteLLM/stopped" in text and "LiteLLM/fine" not in text
    for key in keys:
        assert key.token not in text and key.secret not in text


def test_a_wrong_master_key_is_one_failed_account_named_after_the_entry() -> None:
    keys = [Key(f"sk-k{n}" + "x" * 30, alias=f"k{n}") for n in range(40)]
    with LiteLLMAdminEmulator(MASTER, keys=keys, teams=[Team("t")]) as proxy:
        results = query(proxy, api_key="sk-wrong-" + "W" * 30)
    [only] = results
    assert (only.account.name, only.ok, only.kind) == ("LiteLLM", False, "site")
    assert only.error is not None and only.error.startswith("HTTP 401") and "Invalid proxy server token" in only.error
    assert "W" * 30 not in only.error


def test_one_list_that_fails_fails_the_site_item_and_keeps_the_other() -> None:
    class NoTeams(LiteLLMAdminEmulator):
        def handle(self, request: Any) -> Any:
            if request.path.startswith("/team/list"):
                return 500, {"Content-Type": "text/html"}, b"<html>Internal Server Error</html>"
            return super().handle(request)

    with NoTeams(MASTER, keys=[Key("sk-one" + "o" * 30, alias="one", max_budget=Decimal(10))]) as proxy:
        found = by_name(query(proxy))
    site = found["LiteLLM"]
    assert not site.ok and site.error is not None and site.error.startswith("teams: HTTP 500")
    assert found["LiteLLM/one"].ok


@pytest.mark.parametrize("answer", [{"keys": ["0123abcd" * 8]}, {"nothing": []}])
def test_a_key_list_without_spend_is_a_clear_failure(answer: dict[str, Any]) -> None:
    class Old(LiteLLMAdminEmulator):
        def handle(self, request: Any) -> Any:
            if request.path.startswith("/key/list"):
                return json_answer(200, answer)
            return super().handle(request)

    with Old(MASTER, teams=[Team("t-1", "a")]) as proxy:
        found = by_name(query(proxy))
    assert not found["LiteLLM"].ok and "keys: /key/list" in (found["LiteLLM"].error or "")
    assert "0123abcd" * 8 not in (found["LiteLLM"].error or "")


def test_two_keys_of_one_alias_are_told_apart_by_their_short_hash() -> None:
    keys = [Key("sk-same1" + "a" * 30, alias="ci"), Key("sk-same2" + "b" * 30, alias="ci")]
    with LiteLLMAdminEmulator(MASTER, keys=keys) as proxy:
        found = by_name(query(proxy))
    assert {f"LiteLLM/ci#{k.token[:8]}" for k in keys} <= set(found)


@pytest.mark.parametrize(("note", "zh"), [("team budget reached", "已达到团队的预算上限"),
                                          ("team blocked", "团队已被禁用")])
def test_a_teams_notes_are_translated_in_a_chinese_report(note: str, zh: str) -> None:
    assert localised(note, "zh") == zh


def test_a_row_without_a_number_fails_that_key_alone() -> None:
    class Odd(LiteLLMAdminEmulator):
        def handle(self, request: Any) -> Any:
            if request.path.startswith("/key/list"):
                rows = [k.row() for k in self.keys]
                rows[0]["spend"] = "n/a"
                return json_answer(200, {"keys": rows, "total_count": 2, "current_page": 1, "total_pages": 1})
            return super().handle(request)

    with Odd(MASTER, keys=[Key("sk-odd" + "o" * 30, alias="odd"), Key("sk-fine" + "f" * 30, alias="fine")]) as proxy:
        found = by_name(query(proxy))
    assert found["LiteLLM"].ok and found["LiteLLM/fine"].ok
    odd = found["LiteLLM/odd"]
    assert not odd.ok and odd.error is not None and "spend" in odd.error
