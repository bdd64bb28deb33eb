"""A long history is read lazily (records kept as their lines of text): same report, same file, same checks."""

from __future__ import annotations

import json
import random
from datetime import datetime, timedelta, timezone
from decimal import Decimal
from pathlib import Path
from typing import Any
from zoneinfo import ZoneInfo

import pytest

from monitor.collect import AccountResult
from monitor.config import Account
from monitor.history import HistoryFile, Loaded, parse_all, prune, record_of
from monitor.redact import fingerprint
from monitor.report import build
from monitor.snapshot import Snapshot

NOW = datetime(2026, 11, 28, 1, 5, tzinfo=timezone.utc)
ZONE = ZoneInfo("Asia/Shanghai")
NAMES = ["main", "spare", "引号\"名", "back\\slash", "gone", "always-failing"]


def key_of(name: str) -> str:
    return "sk-" + "".join(c for c in name.encode("unicode_escape").decode() if c.isalnum()).ljust(40, "x")


def history(seed: int, days: int = 40) -> list[dict[str, Any]]:
    """Runs twice a day with the troubles a real file has: gaps, failures, resets, key changes, top-ups,
    two records at one time, one from the future."""
    rng = random.Random(seed)
    records: list[dict[str, Any]] = []
    used = {name: Decimal(rng.randint(0, 50)) for name in NAMES}
    start = NOW - timedelta(days=days)
    for step in range(days * 2):
        moment = start + timedelta(hours=12, minutes=rng.choice([0, 0, 3])) * 1 + timedelta(hours=12 * step)
        for name in NAMES:
            if name == "gone" and step > days:  # removed from the config 20 days ago
                continue
            if rng.random() < 0.1 and name != "main":  # a gap
                continue
            ok = name != "always-failing" and rng.random() > 0.1
            if rng.random() < 0.03:
                used[name] = Decimal(0)  # a reset
            used[name] += Decimal(rng.randint(0, 300)) / 100
            fp = fingerprint(key_of(name)) if rng.random() > 0.02 else "0ldk3y00"
            records.append({
                "time": moment.isoformat(timespec="seconds"), "account": name, "key_fingerprint": fp,
                "provider": "openai-billing", "ok": ok, "currency": "USD",
                "balance": f"{100 - used[name]:.4f}" if ok else None, "used": f"{used[name]:.4f}" if ok else None,
                "total": "100.0000" if ok else None, "unlimited": False, "error": None if ok else "HTTP 500",
                "note": None,
            })
            if rng.random() < 0.02:
                records.append(dict(records[-1]))  # the same moment twice
    future = dict(records[-1], time=(NOW + timedelta(hours=3)).isoformat(timespec="seconds"), account="spare")
    records.append(future)
    return records


def results() -> list[AccountResult]:
    out = []
    for name in NAMES[:4] + ["always-failing", "new"]:
        account = Account(name=name, provider="openai-billing", api_key=key_of(name), base_url="https://r.example")
        snapshot = None if name == "always-failing" else Snapshot("USD", Decimal("42.5"), Decimal("57.5"), Decimal(100))
        out.append(AccountResult(account, NOW, fingerprint(key_of(name)), snapshot, None if snapshot else "HTTP 500"))
    return out


def saved(tmp_path: Path, records: list[dict[str, Any]]) -> HistoryFile:
    file = HistoryFile(tmp_path / "api_usage_history.json")
    file.save(records, NOW, 400)
    return file


def report_from(records: list[Any]) -> Any:
    return build(results(), records, NOW, ZONE, "zh", 90)


@pytest.mark.parametrize("seed", range(8))
def test_the_report_from_the_recent_records_is_the_report_from_all_of_them(tmp_path: Path, seed: int) -> None:
    records = history(seed)
    loaded = saved(tmp_path, records).load(NOW)
    assert all(isinstance(e, bytes) for e in loaded.entries)
    names = [r.account.name for r in results()]
    recent = loaded.for_report(NOW, names)
    assert len(recent) < len(records) / 3
    assert report_from(recent) == report_from(parse_all(records))


@pytest.mark.parametrize("seed", range(4))
def test_a_history_out_of_time_order_gives_the_same_report(tmp_path: Path, seed: int) -> None:
    records = history(seed)
    rng = random.Random(seed)
    for _ in range(5):  # moved by hand
        i, j = rng.randrange(len(records)), rng.randrange(len(records))
        records[i], records[j] = records[j], records[i]
    records[3]["time"] = records[3]["time"].replace("+00:00", "Z")  # another way to write UTC
    loaded = saved(tmp_path, records).load(NOW)
    recent = loaded.for_report(NOW, [r.account.name for r in results()])
    assert report_from(recent) == report_from(parse_all(records))


def test_a_history_reformatted_by_hand_is_read_the_ordinary_way(tmp_path: Path) -> None:
    records = history(1)
    path = tmp_path / "api_usage_history.json"
    path.write_text(json.dumps({"records": records, "version": 1}, indent=2, ensure_ascii=False), encoding="utf-8")
    loaded = HistoryFile(path).load(NOW)
    assert loaded.raw == records
    assert report_from(loaded.for_report(NOW, NAMES + ["new"])) == report_from(parse_all(records))


def test_records_are_written_back_as_they_were_read(tmp_path: Path) -> None:
    records = history(2)
    records[5]["extra"] = {"time": "not a record", "nested": [1, {"time": 2}]}  # unknown fields survive
    file = saved(tmp_path, records)
    first = file.path.read_bytes()
    loaded = file.load(NOW)
    assert loaded.raw == records
    file.save(loaded.entries, NOW, 400)
    assert file.path.read_bytes() == first
    (tmp_path / "other.json").write_bytes(first)
    assert HistoryFile(tmp_path / "other.json").load(NOW).raw == records  # not trusted: parsed in full


def test_new_records_follow_the_old_lines(tmp_path: Path) -> None:
    records = history(3, days=5)
    file = saved(tmp_path, records)
    loaded = file.load(NOW)
    new = [record_of(r) for r in results()]
    file.save([*loaded.entries, *new], NOW, 400)
    assert json.loads(file.path.read_text(encoding="utf-8"))["records"] == [*records, *new]
    file.save(loaded.plus(new), NOW, 400)  # what a run does: the times already read are reused
    assert json.loads(file.path.read_text(encoding="utf-8"))["records"] == [*records, *new]
    file.save(file.load(NOW).plus(new), NOW, 3)  # and pruned by them
    assert json.loads(file.path.read_text(encoding="utf-8"))["records"] == prune([*records, *new, *new], NOW, 3)


def test_prune_is_the_same_on_lines_and_on_dicts(tmp_path: Path) -> None:
    records = history(4, days=60)
    records.insert(10, dict(records[10], time="yesterday-ish"))  # unreadable: kept for a person to fix
    records.insert(20, dict(records[20], time="2026-13-45T99:00:00+00:00"))  # looks right, is not a date
    loaded = saved(tmp_path, records).load(NOW)
    assert prune(loaded.entries, NOW, 30) == [json.dumps(r, ensure_ascii=False, separators=(", ", ": ")).encode()
                                              for r in prune(records, NOW, 30)]
    in_order = sorted(history(5, days=60)[:-1], key=lambda r: r["time"])
    in_order.insert(0, dict(in_order[0], time="2020-13-45T99:00:00+00:00"))
    loaded = saved(tmp_path, in_order).load(NOW)
    assert [json.loads(e) for e in prune(loaded.entries, NOW, 30)] == prune(in_order, NOW, 30)


def test_a_history_edited_into_invalid_json_is_still_set_aside(tmp_path: Path) -> None:
    file = saved(tmp_path, history(6, days=5))
    text = file.path.read_text(encoding="utf-8")
    file.path.write_text(text.replace('"ok": true', '"ok": tru', 1), encoding="utf-8")
    loaded = file.load(NOW)
    assert loaded.entries == [] and loaded.warning and "moved aside" in loaded.warning
    assert not file.path.exists()
    assert list(tmp_path.glob("api_usage_history.json.corrupt-*"))


def test_an_old_loaded_is_still_built_from_dicts() -> None:
    loaded = Loaded(raw=[{"time": NOW.isoformat(), "account": "main", "ok": True, "used": "1"}])
    assert loaded.raw[0]["account"] == "main"
    assert [r.account for r in loaded.for_report(NOW, ["main"])] == ["main"]


def test_a_file_saved_in_time_order_is_read_back_without_reading_every_time(tmp_path: Path) -> None:
    records = history(7)[:-1]  # without the record from the future
    file = saved(tmp_path, records)
    file.save(file.load(NOW).plus([]), NOW, 400)  # now the program's own file, in order
    loaded = file.load(NOW)
    assert type(loaded.entries.time_keys).__name__ == "_SlicedKeys"
    names = [r.account.name for r in results()]
    assert report_from(loaded.for_report(NOW, names)) == report_from(parse_all(records))
    earlier = dict(records[-1], time=(NOW - timedelta(days=30)).isoformat(timespec="seconds"))  # clock moved back
    first_not_time = {"account": "main", "time": NOW.isoformat(timespec="seconds"), "ok": False}
    for extra in (earlier, first_not_time):
        file.save(file.load(NOW).plus([extra]), NOW, 400)
        again = file.load(NOW)
        assert isinstance(again.entries.keys_in_order(), (list, type(None)))
        records.append(extra)
        assert report_from(again.for_report(NOW, names)) == report_from(parse_all(records))
        assert again.raw == records
