"""Every provider's amounts, fed random wire values by hypothesis: the exact number, or an error naming the field.

A value is written as the wire may carry it (a JSON number or string; plain, with an exponent; up to 14
decimals; negative; huge) or in a form that must never be guessed ("1,50", "1,234.5", "1_000", "12 CNY",
NaN, full-width digits…). The answers go through the real parsing (``common.parse`` and each provider's
``from_answer``), and for one provider of each family also through a loopback server and a run's collect step.
The expected number comes from ``Fraction`` arithmetic, never from the code under test.
"""

from __future__ import annotations

import json
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from decimal import Decimal
from fractions import Fraction
from typing import Any

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from monitor.emulators import json_answer
from monitor.http import Response
from monitor.providers import common, deepseek, generic_json, moonshot, new_api, openai_billing, openrouter, siliconflow
from monitor.snapshot import ProviderError, Snapshot
from tests.support.provider_servers import DEEPSEEK, JSON, Wire, account, query_one, raw_json, serving

PURE = settings(max_examples=100, deadline=None, suppress_health_check=[HealthCheck.too_slow])
WIRE = settings(max_examples=25, deadline=None, suppress_health_check=[HealthCheck.too_slow,
                                                                       HealthCheck.function_scoped_fixture])
LIMIT = Fraction(10) ** 15  # common.MAX_AMOUNT: larger is refused as implausible


@dataclass(frozen=True)
class Amount:
    """A value as written on the wire (JSON text) and what it means: its exact value, or None if never a number."""

    text: str
    value: Fraction | None

    def __repr__(self) -> str:
        return f"Amount({self.text})"


def plain(digits: int, places: int) -> str:
    text = str(digits).rjust(places + 1, "0")
    return f"{text[:-places]}.{text[-places:]}" if places else text


@st.composite
def amounts(draw: st.DrawFn) -> Amount:
    # sampled_from, not integers(): hypothesis favours small integers, and long amounts are the point here.
    places = draw(st.sampled_from(range(15)))  # past 13, 28 significant digits (Decimal's default) would round
    size = draw(st.sampled_from(range(18))) + places  # up to 17 digits before the point: some past the limit
    digits = draw(st.one_of(st.integers(0, 10**6), st.integers(10 ** size // 10, max(10**size - 1, 0))))
    negative = draw(st.booleans())
    sign = "-" if negative else ""
    exact = Fraction(digits, 10**places) * (-1 if negative else 1)
    good = {
        "number": plain(digits, places),
        "exponent": f"{digits}e-{places}" if places else f"{digits}E0",
        "scientific": format(Decimal(f"{sign}{plain(digits, places)}"), "e").lstrip("-"),
        "exponent-up": f"{digits}e+{places}",
    }
    form = draw(st.sampled_from([*good, "bad"]))
    if form == "exponent-up":
        exact = Fraction(digits * 10**places) * (-1 if negative else 1)
    if form != "bad":
        text = sign + good[form]
        quoted = draw(st.booleans())  # DeepSeek, SiliconFlow and Novita send strings, the rest JSON numbers
        return Amount(json.dumps(text) if quoted else text, exact)
    number = plain(digits, places)
    whole, _, fraction = number.partition(".")
    grouped = f"{int(whole):,}" + (f".{fraction}" if fraction else "")
    bad = draw(st.sampled_from([
        number.replace(".", ",") if "." in number else f"{number},50",  # "1,50": 1.5 or 150?
        grouped if "," in grouped else f"1,{whole.zfill(3)}",  # thousands separators
        f"{whole}_000", f"{number} CNY", f"${number}", f"¥{number}", f"{whole} {fraction or '5'}",
        number.translate(str.maketrans("0123456789", "０１２３４５６７８９")), "NaN", "Infinity", "-inf", "0x1A",
        "", " ", "1.2.3", "1e", "e5", "--1", "1e99999", "null", "true",
    ]))
    return Amount(json.dumps(sign + bad if bad and bad[0].isdigit() else bad), None)


@st.composite
def raw_number_amounts(draw: st.DrawFn) -> Amount:
    """Bare JSON tokens that are not amounts (NaN and Infinity are accepted by Python's json module)."""
    # (null is left out: it means "not reported" or "unlimited" where a field may be null.)
    token = draw(st.sampled_from(["NaN", "Infinity", "-Infinity", "true", "false", "[]", "{}", '"1,50"']))
    return Amount(token, None)


wire_amounts = st.one_of(amounts(), amounts(), amounts(), raw_number_amounts())

Oracle = Callable[[Fraction], Fraction | None]  # the expected reading of an accepted amount; None: refused


@dataclass(frozen=True)
class Case:
    """One amount field of one provider: the answers carrying the value, and how to read the snapshot."""

    name: str
    field: str  # the field an error must name
    answers: Callable[[str], dict[str, str]]  # path -> JSON text, given the value's JSON text
    pure: Callable[[dict[str, Any]], Snapshot]  # the provider's own parsing of the parsed answers
    pick: Callable[[Snapshot], Decimal | None]
    oracle: Oracle = lambda v: v
    wire: Wire | None = None  # for the loopback run
    settings: dict[str, Any] = field(default_factory=dict)


def unless_negative(v: Fraction) -> Fraction | None:
    return None if v < 0 else v


DS = "/user/balance"
SUB, USE = "/v1/dashboard/billing/subscription", "/v1/dashboard/billing/usage"
TOKEN, STATUS = "/api/usage/token", "/api/status"
STATUS_USD = '{"success":true,"data":{"quota_per_unit":500000,"quota_display_type":"USD"}}'
STATUS_CNY = '{"success":true,"data":{"quota_per_unit":500000,"quota_display_type":"CNY","usd_exchange_rate":7.3}}'
USD_SITE = new_api.Site(Decimal(500000), "USD")
CNY_SITE = new_api.Site(Decimal(500000), "CNY", Decimal("7.3"))


def deepseek_answer(v: str) -> dict[str, str]:
    return {DS: f'{{"is_available":true,"balance_infos":[{{"currency":"CNY","total_balance":{v},'
                f'"granted_balance":"0.00","topped_up_balance":"0.00"}}]}}'}


def billing(limit: str, cents: str) -> dict[str, str]:
    return {SUB: f'{{"object":"billing_subscription","has_payment_method":true,"soft_limit_usd":{limit},'
                 f'"hard_limit_usd":{limit},"system_hard_limit_usd":{limit},"access_until":0}}',
            USE: f'{{"object":"list","total_usage":{cents}}}'}


def token_usage(granted: str = "5000000", used: str = "1000000", available: str = "4000000") -> dict[str, str]:
    return {TOKEN: f'{{"code":true,"message":"ok","data":{{"object":"token_usage","name":"ci",'
                   f'"total_granted":{granted},"total_used":{used},"total_available":{available},'
                   f'"unlimited_quota":false,"model_limits":{{}},"expires_at":0}}}}', STATUS: STATUS_USD}


def usage_json(balance: str) -> dict[str, str]:
    return {"/v1/billing/usage": f'{{"success":true,"data":{{"balance":{balance},"used":3.25,"cache_used":0}}}}'}


RELAY = Wire("openai-billing", SUB, json_answer(200, {}),
             json_answer(401, {"error": {"message": "无效的令牌", "type": "one_api_error"}}))
NEW_API = Wire("new-api", TOKEN, json_answer(200, {}), json_answer(401, {"success": False, "message": "无效的令牌"}))

CASES = [
    Case("deepseek", "total_balance", deepseek_answer, lambda a: deepseek.from_answer(a[DS], None),
         lambda s: s.balance, wire=DEEPSEEK),
    Case("moonshot", "data.available_balance",
         lambda v: {"/m": f'{{"code":0,"data":{{"available_balance":{v},"voucher_balance":1.5,"cash_balance":0}},'
                          f'"scode":"0x0","status":true}}'},
         lambda a: moonshot.from_answer(a["/m"], "CNY"), lambda s: s.balance),
    Case("moonshot-cash", "data.cash_balance",
         lambda v: {"/m": f'{{"code":0,"data":{{"available_balance":1.5,"voucher_balance":1.5,"cash_balance":{v}}},'
                          f'"scode":"0x0","status":true}}'},
         lambda a: moonshot.from_answer(a["/m"], "CNY"), lambda s: s.balance, lambda v: Fraction(3, 2)),
    Case("siliconflow", "data.totalBalance",
         lambda v: {"/s": f'{{"code":20000,"status":true,"data":{{"balance":"0","totalBalance":{v}}}}}'},
         lambda a: siliconflow.from_answer(a["/s"], "CNY"), lambda s: s.balance),
    Case("openrouter-remaining", "data.limit_remaining",
         lambda v: {"/k": f'{{"data":{{"limit":100,"limit_remaining":{v},"usage":25.5}}}}'},
         lambda a: openrouter.from_answer(a["/k"], "USD"), lambda s: s.balance),
    Case("openrouter-usage", "data.usage",
         lambda v: {"/k": f'{{"data":{{"limit":100,"limit_remaining":74.5,"usage":{v}}}}}'},
         lambda a: openrouter.from_answer(a["/k"], "USD"), lambda s: s.used),
    Case("openrouter-limit", "data.limit",
         lambda v: {"/k": f'{{"data":{{"limit":{v},"limit_remaining":74.5,"usage":25.5}}}}'},
         lambda a: openrouter.from_answer(a["/k"], "USD"), lambda s: s.total),
    Case("openai-billing-limit", "hard_limit_usd", lambda v: billing(v, "766.0001"),
         lambda a: openai_billing.from_answers(a[SUB], a[USE], "USD"), lambda s: s.balance,
         lambda v: None if v < 0 else v - Fraction("7.660001"), wire=RELAY),
    Case("openai-billing-usage", "total_usage", lambda v: billing("20.5", v),
         lambda a: openai_billing.from_answers(a[SUB], a[USE], "USD"), lambda s: s.used,
         lambda v: None if v < 0 else v / 100, wire=RELAY),
    Case("openai-billing-remaining", "hard_limit_usd", lambda v: billing(v, "766.0001"),
         lambda a: openai_billing.from_answers(a[SUB], a[USE], "USD", "remaining"), lambda s: s.total,
         lambda v: None if v < 0 else v + Fraction("7.660001"), wire=RELAY, settings={"hard_limit": "remaining"}),
    Case("new-api-available", "data.total_available", lambda v: token_usage(available=v),
         lambda a: new_api.from_answer(a[TOKEN], USD_SITE, None, 0), lambda s: s.balance,
         lambda v: v / 500000, wire=NEW_API),
    Case("new-api-used-cny", "data.total_used", lambda v: {**token_usage(used=v), STATUS: STATUS_CNY},
         lambda a: new_api.from_answer(a[TOKEN], CNY_SITE, None, 0), lambda s: s.used,
         lambda v: v * Fraction("7.3") / 500000, wire=NEW_API),
    Case("json", "data.balance", usage_json,
         lambda a: generic_json.from_answer(a["/v1/billing/usage"], "USD", "data.balance", "data.used"),
         lambda s: s.balance, wire=JSON),
    Case("json-divisor", "data.balance", usage_json,
         lambda a: generic_json.from_answer(a["/v1/billing/usage"], "USD", "data.balance", "data.used",
                                            divisor=Decimal(10000)),
         lambda s: s.balance, lambda v: v / 10000, wire=JSON, settings={"divisor": Decimal(10000)}),
]


def expected(case: Case, amount: Amount) -> Fraction | None:
    if amount.value is None or abs(amount.value) >= LIMIT:
        return None
    if case.field == "hard_limit_usd" and amount.value == 10**8:
        return None  # 1e8 is the relays' mark of an unlimited key, tested elsewhere
    return case.oracle(amount.value)


def check(case: Case, amount: Amount, outcome: Snapshot | str) -> None:
    """The outcome is the exact expected number, or an error naming the field: never another number."""
    want = expected(case, amount)
    if case.field == "hard_limit_usd" and amount.value == 10**8 and isinstance(outcome, Snapshot):
        assert outcome.unlimited
        return
    if want is None:
        assert isinstance(outcome, str), f"{amount} was read as {outcome}"
        assert case.field.rsplit(".", 1)[-1] in outcome, outcome
        return
    assert isinstance(outcome, Snapshot), f"{amount} was refused: {outcome}"
    got = case.pick(outcome)
    assert got is not None and Fraction(got) == want, f"{amount} read as {got}, not {want}"


def parse_pure(case: Case, text: str) -> Snapshot | str:
    try:
        bodies = {path: common.parse(Response(200, "application/json", body.encode(), {}))
                  for path, body in case.answers(text).items()}
        return case.pure(bodies)
    except ProviderError as exc:
        return str(exc)


@pytest.mark.parametrize("case", CASES, ids=[c.name for c in CASES])
def test_every_amount_field_reads_the_exact_number_or_names_the_field(case: Case) -> None:
    @PURE
    @given(amount=wire_amounts)
    def run(amount: Amount) -> None:
        check(case, amount, parse_pure(case, amount.text))

    run()


@contextmanager
def server_for(case: Case) -> Iterator[Any]:
    assert case.wire is not None
    with serving(case.wire) as server:
        yield server


WIRED = [c for c in CASES if c.wire is not None]


@pytest.mark.parametrize("case", WIRED, ids=[c.name for c in WIRED])
def test_the_same_through_a_loopback_server_and_a_runs_collect_step(case: Case) -> None:
    assert case.wire is not None
    wire = case.wire
    with server_for(case) as server:
        @WIRE
        @given(amount=wire_amounts)
        def run(amount: Amount) -> None:
            for path, body in case.answers(amount.text).items():
                server.answer(raw_json(200, body), path)
            result = query_one(account(wire, server.url, **case.settings))
            check(case, amount, result.snapshot if result.snapshot is not None else str(result.error))

        run()


@pytest.mark.parametrize("text", ['"1,50"', '"1,234.50"', '"1 234,50"', '"1.234,50"', '"12,5"'])
def test_a_decimal_comma_or_thousands_separator_is_never_guessed(text: str) -> None:
    for case in CASES:
        outcome = parse_pure(case, text)
        assert isinstance(outcome, str) and "is not a plain decimal number" in outcome, (case.name, outcome)


@pytest.mark.parametrize(("text", "value"), [
    ("0.1234567891", "0.1234567891"), ('"0.000000001"', "1E-9"), ("1e-10", "1E-10"), ('"-12.5"', "-12.5"),
    ("999999999999999.9999999999", "999999999999999.9999999999"), ('"1.5E+3"', "1500"), ("7", "7"),
])
def test_amounts_are_kept_with_every_decimal(text: str, value: str) -> None:
    snap = parse_pure(CASES[0], text)
    assert isinstance(snap, Snapshot) and snap.balance == Decimal(value)
    assert str(snap.balance) == value  # not just equal: the same digits, nothing rounded or padded
