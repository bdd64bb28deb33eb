"""The history reader against a full parse, on random files as people and other tools leave them.

The reader reads a window from the end and carries the rest over as bytes; these tests hold it to what a
plain ``json.loads`` of the whole file says: the same report, and a saved file that keeps every record the
SPEC says it keeps.
"""

from __future__ import annotations

import json
import os
import shutil
import tempfile
from datetime import datetime, timedelta, timezone
from decimal import Decimal
from pathlib import Path
from typing import Any
from zoneinfo import ZoneInfo

from hypothesis import HealthCheck, Phase, given, settings
from hypothesis import strategies as st

from monitor.collect import AccountResult
from monitor.config import Account
from monitor.history import HistoryFile, Keep, parse, parse_all, parse_time, record_of
from monitor.report import build
from monitor.snapshot import Snapshot
from tests.time_forms import SHANGHAI, time_text

NOW = datetime(2026, 11, 28, 1, 5, 7, 250_000, tzinfo=timezone.utc)
ZONE = ZoneInfo("Asia/Shanghai")
NAMES = ["main", "spare", "引号\"名", "gone"]
KEEP = Keep(days=30, check_days=8)


@st.composite
def records(draw: st.DrawFn) -> list[Any]:
    count = draw(st.integers(0, 40))
    out: list[Any] = []
    used: dict[str, Decimal] = {}
    for _ in range(count):
        name = draw(st.sampled_from(NAMES))
        seconds = draw(st.integers(-40 * 86400, 3600))  # up to 40 days back, and a little in the future
        moment = (NOW + timedelta(seconds=seconds, microseconds=draw(st.integers(0, 999_999)))).replace()
        ok = draw(st.booleans()) or draw(st.booleans())
        places = draw(st.integers(0, 8))
        step = Decimal(draw(st.integers(-50, 5000))) / (Decimal(10) ** places)
        used[name] = used.get(name, Decimal(0)) + step
        record: dict[str, Any] = {
            "time": time_text(moment, draw(st.integers(0, 3))),
            "account": name,
            "key_fingerprint": draw(st.sampled_from(["3f2a9c1b", "3f2a9c1b", "3f2a9c1b", "0ldk3y00", None])),
            "provider": "openai-billing", "ok": ok,
            "currency": draw(st.sampled_from(["USD", "USD", "USD", "CNY"])),
            "balance": f"{100 - used[name]:f}" if ok else None,
            "used": f"{used[name]:f}" if ok else None,
            "total": "100" if ok else None, "unlimited": False, "error": None if ok else "HTTP 500",
        }
        if draw(st.booleans()):
            record["run"] = draw(st.sampled_from(["report", "check"]))
        if draw(st.integers(0, 9)) == 0:
            record["extra"] = {"time": "not a record", "nested": [1, {"time": 2}]}  # unknown fields survive
        out.append(record)
    if count and draw(st.integers(0, 9)) == 0:
        out.insert(draw(st.integers(0, len(out))), dict(out[0], time="yesterday-ish"))  # kept for a person to fix
    if draw(st.booleans()):
        out.sort(key=lambda r: parse_time(r["time"]) or datetime.min.replace(tzinfo=timezone.utc))
    return out


def file_bytes(document: dict[str, Any], layout: int) -> bytes:
    if layout == 0:  # this program's layout
        lines = [json.dumps(r, ensure_ascii=False, separators=(", ", ": ")) for r in document["records"]]
        head = {k: v for k, v in document.items() if k != "records"}
        text = json.dumps(head, ensure_ascii=False)[:-1] + (", " if head else "") + '"records": [\n'
        return (text + ",\n".join(lines) + ("\n" if lines else "") + "]}\n").encode()
    if layout == 1:
        return json.dumps(document, indent=2, ensure_ascii=False).encode()  # reformatted by hand
    if layout == 2:
        return b"\xef\xbb\xbf" + json.dumps(document, ensure_ascii=True).encode()  # a BOM, all on one line
    return json.dumps(document, separators=(",", ":")).encode()  # another tool's spacing


def results() -> list[AccountResult]:
    out = []
    for name in NAMES[:3] + ["new"]:
        account = Account(name=name, provider="openai-billing", api_key="sk-" + "k" * 40, base_url="https://r.example")
        snapshot = None if name == "spare" else Snapshot("USD", Decimal("42.123456"), Decimal("57.876544"),
                                                         Decimal(100))
        out.append(AccountResult(account, NOW, "3f2a9c1b", snapshot, None if snapshot else "HTTP 500"))
    return out


def report_from(history: list[Any]) -> Any:
    return build(results(), history, NOW, ZONE, "zh", KEEP.days)


def expected_after_save(original: list[Any], new: list[dict[str, Any]]) -> tuple[list[Any], set[int]]:
    """The records a save must keep (by position in ``original + new``), and those it may keep."""
    everything = [*original, *new]
    parsed = [parse(r) for r in everything]
    newest: dict[str, tuple[datetime, int]] = {}
    for i, r in enumerate(parsed):
        if r is not None and r.run == "report" and r.ok and newest.get(r.account, (r.time, i))[0] <= r.time:
            newest[r.account] = (r.time, i)
    must, may = [], set()
    for i, r in enumerate(parsed):
        young = r is not None and r.time >= NOW - timedelta(days=KEEP.check_days if r.run == "check" else KEEP.days)
        if r is None or young or i in {n for _, n in newest.values()}:
            must.append(everything[i])
        elif r.run == "report":
            may.add(i)  # past retention: at most one per account, as the newest the reader knew of
    return must, may


@settings(max_examples=int(os.environ.get("HISTORY_EXAMPLES", "80")), deadline=None, phases=[Phase.generate],
          suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(original=records(), layout=st.integers(0, 3), alerts=st.booleans(), mapped=st.booleans())
def test_the_reader_agrees_with_a_full_parse_and_a_save_keeps_what_it_must(
        tmp_path: Path, original: list[Any], layout: int, alerts: bool, mapped: bool) -> None:
    import monitor.history

    # Big files are mapped, not read, and copied file to file at the save: here either way, whatever the size.
    monitor.history._MAP_FROM = 0 if mapped else 1 << 40
    folder = Path(tempfile.mkdtemp(dir=tmp_path))
    document: dict[str, Any] = {"version": 1, "records": original}
    if alerts:
        document = {"version": 1, "alerts": {"main": {"low": "2026-11-27T01:05:00+00:00"}}, "records": original}
    path = folder / "api_usage_history.json"
    path.write_bytes(file_bytes(document, layout))
    history = HistoryFile(path)
    wanted = [r.account.name for r in results()]

    loaded = history.load(NOW, KEEP, accounts=wanted)
    assert loaded.warning is None
    assert loaded.alerts == document.get("alerts", {})
    assert report_from(loaded.tracks) == report_from(parse_all(original))

    new = [record_of(r, run="check") for r in results()]
    history.save(loaded, new, NOW)
    written = json.loads(path.read_text(encoding="utf-8"))
    assert written.get("alerts", {}) == document.get("alerts", {})
    kept = written["records"]
    must, may = expected_after_save(original, new)
    everything = [*original, *new]
    for record in must:
        assert record in kept
    extra = [r for r in kept if r not in must]
    assert all(any(r == everything[i] for i in may) for r in extra)
    per_account = [parse(r).account for r in extra]  # type: ignore[union-attr]
    assert len(per_account) == len(set(per_account))
    times = [t for r in kept if (t := parse_time(r.get("time"))) is not None]
    assert times == sorted(times)  # oldest first, as the SPEC says

    # Read back as the next run does (the file the last save wrote, the tracks from its window file), and
    # as a copy of it (checked in full, the tracks made from its records): the same tracks either way.
    again = history.load(NOW, KEEP, accounts=wanted)
    assert again.from_window or not history._written()  # the window unparsed, unless the save was not in order
    shutil.copy(path, folder / "copy.json")
    copy = HistoryFile(folder / "copy.json").load(NOW, KEEP, accounts=wanted)
    assert again.tracks == copy.tracks
    assert report_from(again.tracks) == report_from(parse_all(kept))
    monitor.history._MAP_FROM = 64 * 1024


def test_a_year_of_history_is_read_from_its_window(tmp_path: Path) -> None:
    """The report of a long file read by its window is the report of the whole file; the middle is not
    parsed, so a damaged line there survives byte for byte."""
    lines = []
    for hours in range(365 * 2 * 12, 0, -12):
        moment = NOW - timedelta(hours=hours)
        for name in NAMES[:3]:
            lines.append({"time": moment.isoformat(), "account": name, "key_fingerprint": "3f2a9c1b",
                          "provider": "openai-billing", "ok": True, "currency": "USD",
                          "balance": f"{Decimal(hours) / 1000:f}", "used": f"{Decimal(100000 - hours) / 1000:f}",
                          "total": "100", "unlimited": False, "error": None, "run": "report"})
    path = tmp_path / "api_usage_history.json"
    history = HistoryFile(path)
    keep = Keep(days=400)
    history.save(history.load(NOW, keep), lines, NOW)
    loaded = history.load(NOW, keep, accounts=NAMES[:3])
    assert sum(len(t) for t in loaded.tracks.values()) < 60  # eight days of three accounts, not two years
    assert report_from(loaded.tracks) == report_from(parse_all(lines))


def test_an_empty_history_in_either_form_is_a_history(tmp_path: Path) -> None:
    for text in ('{"version": 1, "records": []}', '{"records": []}', '{"version": 1, "records": [\n]}\n'):
        path = tmp_path / "api_usage_history.json"
        path.write_text(text, encoding="utf-8")
        history = HistoryFile(path)
        loaded = history.load(NOW, KEEP, accounts=["main"])
        assert loaded.warning is None and not any(loaded.tracks.values())
        history.save(loaded, [record_of(results()[0])], NOW)
        assert [r["account"] for r in json.loads(path.read_text(encoding="utf-8"))["records"]] == ["main"]
        assert not list(tmp_path.glob("*.corrupt-*"))
        path.unlink()


def test_amounts_are_kept_to_the_last_digit(tmp_path: Path) -> None:
    path = tmp_path / "api_usage_history.json"
    history = HistoryFile(path)
    account = Account(name="main", provider="openai-billing", api_key="sk-" + "k" * 40, base_url="https://r.example")
    snapshot = Snapshot("USD", Decimal("98.99985"), Decimal("1.00015"), Decimal("100.000000"))
    history.save(history.load(NOW), [record_of(AccountResult(account, NOW, "3f2a9c1b", snapshot, None))], NOW)
    [record] = json.loads(path.read_text(encoding="utf-8"))["records"]
    assert (record["balance"], record["used"], record["total"]) == ("98.99985", "1.00015", "100.000000")
    assert record["run"] == "report"
    tiny = Snapshot("USD", Decimal("1E-7"), None, None)
    history.save(history.load(NOW), [record_of(AccountResult(account, NOW, "3f2a9c1b", tiny, None))], NOW)
    assert json.loads(path.read_text(encoding="utf-8"))["records"][-1]["balance"] == "0.0000001"  # no exponent


def test_a_clock_a_year_ahead_keeps_each_accounts_newest_report(tmp_path: Path) -> None:
    path = tmp_path / "api_usage_history.json"
    history = HistoryFile(path)
    old = [{"time": (NOW - timedelta(days=d)).isoformat(), "account": name, "ok": True, "used": str(d),
            "run": run} for d in (3, 2, 1) for name in ("main", "gone") for run in ("report", "check")]
    history.save(history.load(NOW, KEEP), old, NOW)
    ahead = NOW + timedelta(days=365)
    history.save(history.load(ahead, KEEP, accounts=["main"]), [], ahead)
    kept = json.loads(path.read_text(encoding="utf-8"))["records"]
    assert [(r["account"], r["used"], r["run"]) for r in kept] == [("main", "1", "report"), ("gone", "1", "report")]


def test_two_corrupt_files_set_aside_in_one_second_are_both_kept(tmp_path: Path) -> None:
    path = tmp_path / "api_usage_history.json"
    for content in (b"{oops", b"{oops again"):
        path.write_bytes(content)
        assert "moved aside" in (HistoryFile(path).load(NOW).warning or "")
    aside = sorted(tmp_path.glob("api_usage_history.json.corrupt-*"))
    assert sorted(p.read_bytes() for p in aside) == [b"{oops", b"{oops again"]


def test_a_history_behind_a_symlink_is_updated_and_the_link_stays(tmp_path: Path) -> None:
    (tmp_path / "data").mkdir()
    target = tmp_path / "data" / "history.json"
    target.write_text('{"version": 1, "records": []}', encoding="utf-8")
    link = tmp_path / "api_usage_history.json"
    link.symlink_to(target)
    history = HistoryFile(link)
    history.save(history.load(NOW), [record_of(results()[0])], NOW)
    assert link.is_symlink() and link.resolve() == target
    assert [r["account"] for r in json.loads(target.read_text(encoding="utf-8"))["records"]] == ["main"]
    target.write_text("{broken", encoding="utf-8")
    assert "moved aside" in (HistoryFile(link).load(NOW).warning or "")
    assert link.is_symlink() and list((tmp_path / "data").glob("history.json.corrupt-*"))


def test_a_damaged_line_written_behind_the_programs_back_is_found_when_the_file_changed(tmp_path: Path) -> None:
    path = tmp_path / "api_usage_history.json"
    history = HistoryFile(path)
    history.save(history.load(NOW), [record_of(r) for r in results()], NOW)
    text = path.read_text(encoding="utf-8")
    path.write_text(text.replace('"ok":true', '"ok":tru', 1), encoding="utf-8")
    loaded = history.load(NOW)
    assert not any(loaded.tracks.values()) and "moved aside" in (loaded.warning or "")
    assert list(tmp_path.glob("api_usage_history.json.corrupt-*"))


def test_a_foreign_file_is_checked_in_pieces_the_same_way(tmp_path: Path, monkeypatch: Any) -> None:
    """A file this program did not write is checked a piece at a time: a piece boundary never changes
    the verdict (in order, out of order, or a record over two lines)."""
    import monitor.history

    monkeypatch.setattr(monitor.history, "_CHUNK", 700)  # a few records a piece
    lines = [{"time": (NOW - timedelta(hours=h)).astimezone(SHANGHAI).isoformat(), "account": NAMES[h % 3],
              "ok": True, "used": f"{Decimal(1000 - h) / 7:.6f}", "run": "check" if h % 2 else "report"}
             for h in range(180, 0, -1)]  # within the 8 days checks are kept
    wanted = NAMES[:3]
    for variant in ("in order", "swapped", "split"):
        body = [json.dumps(r, ensure_ascii=False, separators=(", ", ": ")) for r in lines]
        if variant == "swapped":
            body[50], body[150] = body[150], body[50]
        if variant == "split":
            body[120] = body[120].replace(', "ok"', ',\n"ok"')
        path = tmp_path / f"{variant}.json"
        path.write_text('{"version": 1, "records": [\n' + ",\n".join(body) + "\n]}\n", encoding="utf-8")
        loaded = HistoryFile(path).load(NOW, KEEP, accounts=wanted)
        assert loaded.warning is None
        expected = parse_all(json.loads(path.read_text(encoding="utf-8"))["records"])
        assert report_from(loaded.tracks) == report_from(expected), variant
        HistoryFile(path).save(loaded, [], NOW)
        kept = json.loads(path.read_text(encoding="utf-8"))["records"]
        assert len(kept) == len(lines) and kept == sorted(kept, key=lambda r: parse_time(r["time"]))


def test_a_history_with_nothing_in_the_last_eight_days_is_saved_whole(tmp_path: Path) -> None:
    """The monitor stopped for ten days: every line is older than the window, none past retention. The
    save carries them all over intact (the last line was once cut short by two bytes)."""
    path = tmp_path / "api_usage_history.json"
    old = [{"time": time_text(NOW - timedelta(days=d, microseconds=286065), style), "account": "main",
            "ok": True, "used": f"{Decimal(40 - d) / 7:.8f}", "run": "report"}
           for d, style in ((12, 1), (11, 2), (10, 3))]
    for mapped in (False, True):
        import monitor.history

        monitor.history._MAP_FROM = 0 if mapped else 1 << 40
        try:
            path.write_text('{"version": 1, "records": [\n' + ",\n".join(json.dumps(r) for r in old) + "\n]}\n",
                            encoding="utf-8")
            history = HistoryFile(path)
            for _ in range(2):  # a foreign file first, then the file the last save wrote
                loaded = history.load(NOW, KEEP, accounts=["main"])
                # its latest snapshot, on the last line, is the step into the window (it was once cut short)
                assert loaded.tracks["main"].used == [old[-1]["used"]]
                history.save(loaded, [], NOW)
                assert json.loads(path.read_text(encoding="utf-8"))["records"] == old
        finally:
            monitor.history._MAP_FROM = 64 * 1024
