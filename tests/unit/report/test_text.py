"""The report's text and --json as people read them: amounts rounded half-up for display only, the saved
record exact."""

from __future__ import annotations

from pathlib import Path

from monitor.emulators import RelayEmulator
from tests.support.faults import make, run
from tests.support.history_support import accounts


def test_an_idle_key_with_six_decimals_shows_no_usage_and_no_reset(tmp_path: Path, odd_relay: RelayEmulator) -> None:
    setup = make(tmp_path / "etc", odd_relay.url, None)
    first = run(setup)
    assert first.returncode == 0, first.stderr
    second = run(setup, "--json")
    main = accounts(second.stdout)["main"]
    assert (main["period"]["kind"], main["period"]["usage"], main["period"]["approximate"]) == ("usage", "0.0000",
                                                                                             False)
    # Half-up, one helper for everything people read: 18.99985 shows as 18.9999 in the text and --json alike.
    assert main["balance"] == "18.9999" and main["used"] == "1.0002"
    text = run(setup).stdout
    assert "剩余：$18.9999" in text and "已用：$1.0002" in text and "用量已重置" not in text
    saved = [r for r in setup.records() if r["account"] == "main"]
    assert {(r["balance"], r["used"]) for r in saved} == {("18.99985", "1.00015")}  # exactly as sent
