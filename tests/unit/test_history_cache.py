"""The caches beside the log files never change a number: a folder read with its caches gives what the same
folder gives without them, after hand edits, truncation, a copied folder, a stale cache (a copy of an older
folder's) and a damaged one; and a cache that does not match its file is not used. Seeded random runs:
resets, top-ups, a changed key, a relay switching to CNY, failed queries, runs in one second, clocks that
jump both ways."""

from __future__ import annotations

import itertools
import json
import os
import random
import shutil
from datetime import datetime, timedelta, timezone
from decimal import Decimal
from pathlib import Path
from zoneinfo import ZoneInfo

import pytest

from monitor import cache, history, transfer, usage
from monitor.emulators import Token
from monitor.history import History, Keep, Loaded
from monitor.records import parse, utc_text
from monitor.run import run_once
from monitor.transfer import usable
from monitor.usage import Point, Series
from tests.model.test_history_model import KEY_A, KEY_P, Bench, bench, hooks  # noqa: F401 (bench: a fixture)

START = datetime(2026, 11, 20, 1, 17, tzinfo=timezone.utc)
ZONES = [ZoneInfo("Asia/Shanghai"), ZoneInfo("Africa/Cairo"), ZoneInfo("America/New_York"), timezone.utc]


def amount(rng: random.Random) -> str:
    return str(Decimal(rng.randrange(0, 3_000_000)).scaleb(-rng.choice((2, 4, 6))))


class Account:
    """A relay key that spends, is topped up, reset, re-keyed, switches currency, or fails."""

    def __init__(self, name: str, rng: random.Random) -> None:
        self.name, self.rng = name, rng
        self.used, self.total, self.fp, self.currency = Decimal(rng.randrange(100)), Decimal(1000), "aaaa", "USD"
        self.balance_only = rng.random() < 0.3

    def record(self, moment: datetime, run: str) -> dict[str, object]:
        rng = self.rng
        event = rng.random()
        if event < 0.03:
            self.used = Decimal(0)  # a reset
        elif event < 0.05:
            self.total += Decimal(rng.randrange(1, 500))  # a top-up
        elif event < 0.06:
            self.fp = rng.choice(("bbbb", "cccc", None))  # a new key, or a hand-edited null
        elif event < 0.07:
            self.currency = rng.choice(("USD", "CNY", None))
        else:
            self.used += Decimal(amount(rng)) / (1000 if rng.random() < 0.9 else 1)
        ok = rng.random() > 0.05
        balance = self.total - self.used
        return {"time": utc_text(moment) if rng.random() < 0.9 else moment.astimezone(ZONES[0]).isoformat(),
                "account": self.name, "run": run, "key_fingerprint": self.fp, "provider": "openai-billing",
                "ok": ok, "currency": self.currency, "balance": f"{balance:f}" if ok else None,
                "used": None if self.balance_only or not ok else f"{self.used:f}", "total": f"{self.total:f}",
                "unlimited": False, "error": None if ok else "HTTP 500"}


def write_runs(log: History, rng: random.Random, accounts: list[Account], runs: int) -> datetime:
    """Runs every 30 minutes to 4 hours (a report every 8th), some clocks wrong, each saved as a run saves
    (the cache of one file brought up to date), some files edited by hand in between."""
    moment = START + timedelta(minutes=rng.randrange(0, 600))
    log.folder.mkdir(exist_ok=True)
    for n in range(runs):
        moment += timedelta(minutes=rng.choice((30, 120, 240)))
        clock = moment
        if rng.random() < 0.05:
            clock = moment + timedelta(hours=rng.choice((-30, -2, 0, 3, 26)))  # a clock that jumped
        elif rng.random() < 0.05:
            clock = moment - timedelta(minutes=30)  # two runs in one second
        run = "report" if n % 8 == 0 or rng.random() < 0.05 else "check"
        with log.locked(5):
            loaded = log.read(clock, [a.name for a in accounts])
            for name in loaded.series:  # each series made, as the report makes them (the parts stay as read)
                assert len(loaded.series[name])
            log.append(loaded, [a.record(clock, run) for a in accounts], run, clock)
            log.prune(loaded, clock, Keep(90, 8))
            log.remember(loaded, run, clock)
            log.write_state(loaded.state)
        if rng.random() < 0.08:
            edit(log, rng)
    return moment


def edit(log: History, rng: random.Random) -> None:
    """What a person or a crash does to a file (a changed amount, a line without a seq, a bad line, a torn
    last line, a line removed, the file cut short), or to a cache (damaged, or one of another file)."""
    names = log.names()
    if not names:
        return
    path = log.folder / rng.choice(names)
    what = rng.randrange(9)
    caches = sorted(log.folder.glob(".*.cache"))
    if what == 6 and caches:  # a damaged cache
        victim = rng.choice(caches)
        data = bytearray(victim.read_bytes())
        data[rng.randrange(len(data))] ^= 1 << rng.randrange(8)
        victim.write_bytes(bytes(data))
        return
    if what == 7 and len(caches) > 1:  # another file's cache in its place
        shutil.copyfile(caches[0], caches[-1])
        return
    lines = path.read_bytes().split(b"\n")[:-1]
    if not lines:
        return
    k = rng.randrange(len(lines))
    try:
        value = json.loads(lines[k])
    except ValueError:
        value = None
    if what == 0:
        if isinstance(value, dict) and value.get("used"):
            value["used"] = str(Decimal(value["used"]) + 1)
            lines[k] = json.dumps(value).encode()
    elif what == 1:
        if isinstance(value, dict):
            value.pop("seq", None)
            lines.insert(k + 1, json.dumps(value).encode())
    elif what == 2:
        lines.insert(k, b"{not json")
    elif what == 3:
        lines[-1] = lines[-1][: len(lines[-1]) // 2]
        path.write_bytes(b"\n".join(lines))
        return
    elif what == 4:
        del lines[k]
    elif what == 8:  # a lost record put back by hand at the end, out of the order of runs
        lines.append(lines.pop(k))
    else:
        del lines[k:]  # cut short
    path.write_bytes(b"".join(t + b"\n" for t in lines))


def plain(log: History, now: datetime, names: list[str]) -> Loaded:
    for found in log.folder.glob(".*.cache"):
        found.unlink()
    return log.read(now, names)


def numbers(series: Series, now: datetime, zone: object) -> list[str]:
    """Everything the report and ``history`` read of a series, as text (so 1.50 and 1.5 differ)."""
    if not len(series):
        return []
    today = now.astimezone(zone).date()  # type: ignore[arg-type]
    end = len(series) - 1
    found = [repr(list(series.points)), repr(list(series.steps)), repr(usage.burn_rate(series, now)),
             repr(usage.trend(series, zone, today)), repr(sorted(usage.daily_usage(series, zone).items())),  # type: ignore[arg-type]
             repr(usage.spike(series, Decimal(3), Decimal("0.01"), timedelta(minutes=30)))]
    for start in {None, 0, end - 1 if end else None, series.last_report(end)}:
        found.append(repr(usage.period(series, start, timedelta(days=90))))
    for i in range(0, len(series), max(1, len(series) // 3)):
        found.append(repr(usage.usual_rate(series, i)))
    return found


def read_all(loaded: Loaded, now: datetime, zone: object) -> tuple[object, ...]:
    series = {name: numbers(s, now, zone) for name, s in loaded.series.items()}
    return series, loaded.last_seq, loaded.unreadable, loaded.newest, sorted(map(str, loaded.torn))


@pytest.mark.parametrize("fresh", [1, history.FRESH])
@pytest.mark.parametrize("seed", range(6))
def test_a_folder_read_with_its_caches_gives_what_it_gives_without_them(tmp_path: Path, seed: int, fresh: int,
                                                                        monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(history, "FRESH", fresh)  # 1: a cache brought up to date at every run, a tail behind it
    used = 0
    for n in range(20):  # 240 sequences in all
        rng = random.Random(seed * 1000 + n)
        log = History(tmp_path / f"h{n}")
        accounts = [Account(f"a{k}", rng) for k in range(rng.randrange(1, 4))]
        end = write_runs(log, rng, accounts, rng.randrange(10, 80))
        names = [a.name for a in accounts]
        if rng.random() < 0.3:  # a copied folder (the caches go along; the files get new inodes and times)
            shutil.copytree(log.folder, tmp_path / f"c{n}")
            log = History(tmp_path / f"c{n}")
        for now in (end, end + timedelta(hours=rng.choice((0, 5, 30)))):
            zone = rng.choice(ZONES)
            used += sum(p.from_cache for p in log.read(now, names).parts)
            cached = read_all(log.read(now, names), now, zone)
            assert cached == read_all(plain(log, now, names), now, zone)
            with log.locked(5):  # the caches again, for the second moment
                loaded = log.read(now, names)
                log.remember(loaded, "check", now)
                log.remember(log.read(now, names), "report", now)
    assert used  # the caches were read, not only written


def test_a_cache_that_does_not_match_its_file_is_not_used(tmp_path: Path) -> None:
    log = History(tmp_path / "h")
    rng = random.Random(5)
    now = write_runs(log, rng, [Account("a", rng)], 40)
    name = log.names()[0]
    path, made = log.folder / name, log.folder / f".{name}.cache"

    def cached() -> bool:
        return next(p for p in log.read(now, ["a"]).parts if p.name == name).from_cache

    with log.locked(5):
        for _ in range(len(log.names())):  # every closed file's cache, one a run
            log.remember(log.read(now, ["a"]), "report", now)
    assert made.exists() and cached()
    before = read_all(log.read(now, ["a"]), now, timezone.utc)
    kept = made.read_bytes()
    made.write_bytes(kept[:-1])  # a damaged cache
    assert cache.load(path) is None and not cached()
    made.write_bytes(kept)
    assert cached()
    good = path.read_bytes()
    at = good.rindex(b'"balance": "') + len(b'"balance": "-')
    digit = b"7" if good[at:at + 1] != b"7" else b"8"
    path.write_bytes(good[:at] + digit + good[at + 1:])  # the same size, another balance
    edited = log.read(now, ["a"])
    assert not next(p for p in edited.parts if p.name == name).from_cache  # read from the file instead
    assert read_all(edited, now, timezone.utc) == read_all(plain(log, now, ["a"]), now, timezone.utc)
    assert read_all(edited, now, timezone.utc) != before  # the cache would have given the old balance


def cached_folder(tmp_path: Path, seed: int) -> tuple[History, datetime]:
    log = History(tmp_path / "h")
    rng = random.Random(seed)
    now = write_runs(log, rng, [Account("a", rng)], 40)
    with log.locked(5):
        for _ in range(len(log.names())):  # every closed file's cache, one a run
            log.remember(log.read(now, ["a"]), "report", now)
    return log, now


def files_opened(monkeypatch: pytest.MonkeyPatch) -> list[str]:
    """The names of the files the history opens from now on."""
    opened: list[str] = []

    def spy(file: Path, *args: object) -> object:
        opened.append(Path(file).name)
        return open(file, *args)  # noqa: SIM115 (the caller closes it)

    monkeypatch.setattr(history, "open", spy, raising=False)
    return opened


def edit_in_place(path: Path) -> None:
    """Another balance, the same size, the modification time put back (``touch -r``)."""
    was, good = path.stat(), path.read_bytes()
    at = good.rindex(b'"balance": "') + len(b'"balance": "-')
    path.write_bytes(good[:at] + (b"7" if good[at:at + 1] != b"7" else b"8") + good[at + 1:])
    os.utime(path, ns=(was.st_atime_ns, was.st_mtime_ns))


def test_a_file_edited_while_a_run_reads_it_is_read_again_by_the_next_run(tmp_path: Path) -> None:
    """The cache a run writes is stamped with the file's times taken before the run read it: an edit made
    after (while the run builds its report, appends and prunes) makes the next run read the file again."""
    log, now = cached_folder(tmp_path, 12)
    name = log.names()[0]
    (log.folder / f".{name}.cache").unlink()
    loaded = log.read(now, ["a"])  # the run reads the file (no cache) ...
    edit_in_place(log.folder / name)  # ... someone edits it meanwhile ...
    log.remember(loaded, "report", now)  # ... and the run caches what it read
    edited = log.read(now, ["a"])
    assert not next(p for p in edited.parts if p.name == name).from_cache
    assert read_all(edited, now, timezone.utc) == read_all(plain(log, now, ["a"]), now, timezone.utc)


def test_a_cache_whose_head_was_changed_is_not_used(tmp_path: Path) -> None:
    log, now = cached_folder(tmp_path, 13)
    made = log.folder / f".{log.names()[0]}.cache"
    data = made.read_bytes()
    at = data.index(b'"top": [') + len(b'"top": [')
    made.write_bytes(data[:at] + (b"9" if data[at:at + 1] != b"9" else b"8") + data[at + 1:])
    assert cache.load(log.folder / log.names()[0]) is None


def test_a_closed_file_whose_times_changed_alone_is_trusted_again_once_its_cache_is_stamped_again(
        tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    log, now = cached_folder(tmp_path, 14)
    name = log.names()[0]
    os.chmod(log.folder / name, 0o600)  # a new change time, the same bytes
    with log.locked(5):
        log.remember(log.read(now, ["a"]), "report", now)  # read to check it, and stamped again
    opened = files_opened(monkeypatch)
    log.read(now, ["a"])
    assert name not in opened


def test_a_closed_file_unchanged_since_its_cache_is_not_read_and_one_edited_in_place_is(
        tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """A file not written since its cache was made is not even opened (its cache is trusted by the file's
    inode, size and times); a hand edit that keeps the size and puts the modification time back (``touch -r``)
    still changes the change time, so the file is read again and the edit counts."""
    log, now = cached_folder(tmp_path, 11)
    name = log.names()[0]
    opened = files_opened(monkeypatch)
    before = read_all(log.read(now, ["a"]), now, timezone.utc)
    assert name not in opened and opened  # the closed file is not read; the others' new lines are
    edit_in_place(log.folder / name)
    edited = log.read(now, ["a"])
    assert name in opened and not next(p for p in edited.parts if p.name == name).from_cache
    assert read_all(edited, now, timezone.utc) == read_all(plain(log, now, ["a"]), now, timezone.utc) != before


def test_a_record_put_back_out_of_order_is_read_in_seq_order_with_or_without_a_cache(
        tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """Found by a trial: one file of an account's week, a lost record restored at its end (a lower seq
    after higher ones): its steps follow the order of runs, whether or not a cache covers the file."""
    log = History(tmp_path / "h")
    log.folder.mkdir()
    times = [START + timedelta(hours=12 * n, seconds=0.318207 * n) for n in range(4)]  # as cron starts them
    used = [Decimal("7.340001") * n for n in range(4)]  # six decimals, as relays send them
    shanghai = timezone(timedelta(hours=8))
    lines = [json.dumps({"seq": n + 1, "time": t.astimezone(shanghai).isoformat(), "account": "a", "run": "report",
                         "ok": True, "balance": f"{100 - used[n]:f}", "used": f"{used[n]:f}", "total": "100"})
             for n, t in enumerate(times)]
    path = log.folder / history.partition("report", START)
    path.write_text("\n".join([lines[0], lines[2], lines[3], lines[1]]) + "\n", encoding="utf-8")
    now = times[-1] + timedelta(minutes=1)
    monkeypatch.setattr(history, "FRESH", 1)  # a cache for a file this small
    got = list(plain(log, now, ["a"]).series["a"].points)
    assert [p.used for p in got] == used and [p.time for p in got] == times
    with log.locked(5):
        log.remember(log.read(now, ["a"]), "report", now)
    assert any(log.folder.glob(".*.cache")) and list(log.read(now, ["a"]).series["a"].points) == got


def test_a_series_steps_are_the_steps_of_its_points() -> None:
    rng = random.Random(7)
    for _ in range(300):
        account = Account("a", rng)
        moment = START
        points = []
        for _ in range(rng.randrange(1, 60)):
            moment += timedelta(minutes=rng.choice((30, 30, 30, 0, -90, 600)))
            r = account.record(moment, rng.choice(("report", "check")))
            if r["ok"]:
                points.append(Point(moment, r["key_fingerprint"],  # type: ignore[arg-type]
                                    None if r["balance"] is None else Decimal(str(r["balance"])),
                                    None if r["used"] is None else Decimal(str(r["used"])),
                                    r["currency"], str(r["run"])))  # type: ignore[arg-type]
        series = Series(points)
        assert list(series.points) == points
        assert list(series.steps) == [None] + [usage.step(a, b) for a, b in zip(points, points[1:])]
        grown = Series(series.points)  # as the report makes it: this run's snapshot added
        grown.add(Point(moment + timedelta(minutes=30), "aaaa", Decimal(3), Decimal(5), "USD"))
        assert list(grown.steps)[:-1] == list(series.steps) and len(series) == len(points)


def test_a_run_reads_the_same_with_and_without_the_caches(bench: Bench, tmp_path: Path,  # noqa: F811
                                                         monkeypatch: pytest.MonkeyPatch) -> None:
    """End to end: the report, the --json document and ``history export`` of a dry run on a folder with its
    caches, on a copy of it, and on the folder without them, after a week of real runs and hand edits."""
    monkeypatch.setattr(history, "FRESH", 1)
    config, redactor = bench.configs[KEY_A], bench.redactors[KEY_A]
    folder = config.history.folder
    shutil.rmtree(folder, ignore_errors=True)
    rng = random.Random(11)
    now = datetime.now(timezone.utc) - timedelta(days=9)
    token = Token(total=Decimal(5000), used=Decimal(0))
    bench.relay.tokens.update({KEY_A[3:]: token, KEY_P[3:]: Token(total=Decimal(100), used=Decimal(0))})
    for n in range(9 * 12):
        now += timedelta(hours=2)
        token.used += Decimal(amount(rng)) / 1000
        command = "report" if n % 6 == 0 else "check"
        run_once(config, redactor, now, command=command, hooks=hooks(bench, config, redactor))
        if n % 30 == 29:
            edit(History(folder), rng)
        if n == 50:
            old = {found.name: found.read_bytes() for found in folder.glob(".*.cache")}
    assert list(folder.glob(".*.cache")) and old

    def seen() -> tuple[object, ...]:
        outcome = run_once(config, redactor, now, dry_run=True, command="report", hooks=hooks(bench, config, redactor))
        exported = b"".join(transfer.export(History(config.history.folder), None, None, None))
        return outcome.text, outcome.document["accounts"], exported

    newest = max(p for p in folder.glob("checks-*.jsonl") if (folder / f".{p.name}.cache").exists())
    data = newest.read_bytes()
    at = data.rindex(b'"used": "', 0, len(data) // 2) + len(b'"used": "')
    newest.write_bytes(data[:at] + b"1" + data[at:])  # a hand edit inside what a cache holds
    cached = seen()
    copy = tmp_path / "copy"
    shutil.copytree(folder, copy)
    shutil.rmtree(folder)
    shutil.copytree(copy, folder)  # new inodes and times, the same bytes
    assert seen() == cached
    for name, data in old.items():  # stale caches: each made when its file was shorter (or other)
        (folder / name).write_bytes(data)
    assert seen() == cached
    for found in folder.glob(".*.cache"):
        found.unlink()
    assert seen() == cached
    shutil.rmtree(folder)


def test_a_v1_import_writes_the_records_the_file_holds(tmp_path: Path) -> None:
    """Each record as the file had it (its seq put first), or written anew when its text spans lines or
    has a seq of its own: the same records either way, in the same files, with their runs' seqs."""
    rng = random.Random(3)
    accounts = [Account(f"账户{k}", rng) for k in range(3)]
    records: list[dict[str, object]] = []
    for n in range(300):
        moment = START + timedelta(hours=12 * n)
        records += [a.record(moment, "report") for a in accounts]
    records[5]["seq"] = 77  # a seq of its own: the run's seq replaces it
    texts = [json.dumps(r, ensure_ascii=rng.random() < 0.5, indent=2 if k % 50 == 7 else None)
             for k, r in enumerate(records)]
    texts.insert(10, '{"time": "broken", "account": 3}')
    for n, layout in enumerate((", ", ",\n", ",")):
        legacy = tmp_path / f"v1-{n}.json"
        legacy.write_text('{"version": 1, "records": [' + layout.join(texts) + "]}", encoding="utf-8")
        streamed, plain_ = History(tmp_path / f"s{n}"), History(tmp_path / f"p{n}")
        streamed.folder.mkdir(), plain_.folder.mkdir()
        transfer.migrate(streamed, legacy, START)
        transfer.load(plain_, records)
        assert streamed.names() == plain_.names()
        assert [json.loads(t) for t in transfer.export(streamed, None, None, None)] == \
            [json.loads(t) for t in transfer.export(plain_, None, None, None)]
        for name in streamed.names():  # one record a line, each line a record
            assert all(json.loads(t)["seq"] for t in (streamed.folder / name).read_bytes().splitlines())
        last = START + timedelta(hours=12 * 299)
        assert (streamed.folder / streamed.names()[-1]).stat().st_mtime == last.timestamp()


@pytest.mark.parametrize("size", [1, 5, 64, 999])
def test_a_file_read_in_small_pieces_gives_what_it_gives_read_at_once(tmp_path: Path, monkeypatch: pytest.MonkeyPatch,
                                                                     size: int) -> None:
    """Records cut by the end of a read (a character of two bytes too), a number at the end of a read, a BOM,
    CRLF, "}, {" inside a string, a broken record, a value that is no record, fields after the records: the
    same values, texts, head and count of skipped records whatever the size of a read, v1 or JSON Lines."""
    rng = random.Random(size)
    records = [Account(f"账户{k}", rng).record(START + timedelta(hours=k), "report") for k in range(200)]
    records[3]["error"] = 'said "}, {" and "},\r\n{"'
    texts = [json.dumps(r, ensure_ascii=False) for r in records]
    texts[100:100] = ["12345678"]
    texts[190:190] = ['{"time": "2026-11-20T01:17:00+00:00", "account": ']  # the rest is read to its end then
    v1 = "\ufeff" + '{"version": 1, "records": [\r\n' + ",\r\n".join(texts) + '\r\n], "alerts": {"a": 1}, "n": 123}'
    lines = "\r\n".join(texts) + "\r\n987654321"

    def read(text: str, chunk: int) -> tuple[object, ...]:
        path = tmp_path / "file"
        path.write_bytes(text.encode("utf-8"))
        monkeypatch.setattr(transfer, "CHUNK", chunk)
        with open(path, "rb") as handle:
            stream = transfer.Stream(handle)
            found = [(value, stream.text) for value in stream.records()]
        return found, stream.head, stream.skipped

    for text in (v1, lines):
        at_once = read(text, 1 << 20)
        assert read(text, size) == at_once
        found, _, skipped = at_once
        assert [value for value in found if isinstance(value[0], dict)] == [(r, json.dumps(r, ensure_ascii=False))
                                                                             for r in records]
        assert skipped == 1 and found[100][0] == 12345678
    assert read(v1, size)[1] == {"version": 1, "alerts": {"a": 1}, "n": 123}
    assert read(lines, size)[0][-1][0] == 987654321


def test_an_import_skips_exactly_the_records_a_run_cannot_read() -> None:
    """``usable`` (what an import checks) says yes exactly where ``parse`` reads a record, with its time:
    with an amount missing, and with all three (matched at once)."""
    good = {"time": "2026-11-28T09:05:00+08:00", "account": "main", "balance": "12.5", "used": "7", "total": None}
    odd = [None, "", "1", "-0", "12.340001", "1e3", "1E+2", " 1", "1 2", "1_000", "٣", "NaN", "Infinity", "-1e15",
           "999999999999999.99", "1000000000000000", "-999999999999999", "0x10", "1.", ".5", 12, 1.5, True, [], {},
           "12.5\n"]
    changes: list[dict[str, object]] = [{}, {"seq": 3}, {"seq": "3"}, {"seq": True}, {"seq": 2 ** 70},
                                        {"account": 5}, {"time": "2026-11-28T09:05:00"}, {"time": None},
                                        {"time": "2026-11-28T01:05:00Z"}, {"run": "check"}]
    changes += [{key: value} for key in ("balance", "used", "total") for value in odd]
    for change, total in itertools.product(changes, (None, "100")):
        raw = {**good, "total": total, **change}
        record = parse(raw)
        assert usable(raw) == (record.time if record else None), (change, total)
    assert usable([good]) is None and parse([good]) is None
