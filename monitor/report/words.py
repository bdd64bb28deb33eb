"""The report's words in Chinese (the default) and English, and how money and durations read."""

from __future__ import annotations

import re
from decimal import Decimal

from monitor.amounts import rounded

WORDS: dict[str, dict[str, str]] = {
    "zh": {
        "title": "💵API 余额监控时报",
        "test": "（测试消息，请忽略）",
        "remaining": "剩余",
        "used": "已用",
        "total": "总额",
        "unlimited": "不限额度",
        "sep": "：",
        "period_usage": "在过去的 {elapsed}用量为：{amount}",
        "period_reset": "在过去的 {elapsed}内用量已重置（已用额度变小），本时段不计用量",
        "period_key_changed": "密钥已更换，用量从新密钥重新计算",
        "period_topup": "在过去的 {elapsed}内充值了 {amount}，不计入用量",
        "period_first": "首次记录，暂无时段用量",
        "period_usage_undated": "用量为：{amount}",
        "period_approximate_undated": "用量约为：{amount}（期间用量被重置或更换了密钥，为近似值）",
        "period_reset_undated": "用量已重置（已用额度变小），本时段不计用量",
        "period_topup_undated": "充值了 {amount}，不计入用量",
        "period_currency": "币种变更：{before} → {after}，本时段不计用量",
        "period_currency_usage": "在过去的 {elapsed}用量约为：{amount}"
                                 "（币种变更：{before} → {after}，变更前的用量不计）",
        "period_currency_usage_undated": "用量约为：{amount}（币种变更：{before} → {after}，变更前的用量不计）",
        "period_clock": "上次记录的时间晚于现在（系统时钟被调整过），本次不计时段用量",
        "period_same_second": "与上次运行在同一秒，本次不计时段用量",
        "clock_moved": "（上次记录的时间晚于现在：系统时钟被调整过，时长不可知）",
        "same_second": "（与上次运行在同一秒）",
        "period_too_old": "上次记录早于保留期，本次不计时段用量",
        "period_not_comparable": "无法与上次记录比较，本次不计时段用量",
        "seconds": "{n} 秒",
        "minutes": "{n} 分钟",
        "hours": "{n} 小时",
        "days": "{n} 天",
        "burn": "消耗速度：≈ {rate}/天",
        "burn_days": "消耗速度：≈ {rate}/天，预计可用 {days} 天",
        "trend": "近 7 天",
        "failed": "查询失败",
        "low_balance": "⚠️ 余额低于 {threshold}",
        "low_days": "⚠️ 按当前速度约 {days} 天后用完",
        "exhausted": "⚠️ {note}",
        "totals": "合计剩余",
        "no_totals": "无",
        "succeeded": "查询成功：{ok}/{all} 个账户",
        "footnote": "注：时段用量为快照之差；期间如有重置或更换密钥，数值为近似值。",
        "history_warning": "⚠️ 历史记录：{warning}",
        "history_not_saved": "⚠️ 本次历史记录未能保存：{reason}",
        "part": "（第 {n}/{count} 部分）",
        "keyword": "关键词：{keyword}",
        "note": "说明",
        "period_approximate": "在过去的 {elapsed}用量约为：{amount}（期间用量被重置或更换了密钥，为近似值）",
        "period_with_topup": "（期间充值 {amount}，不计入用量）",
        "spike": "⚠️ 用量异常：过去 {elapsed}用量 {amount}，约为近 7 天常态速率的 {factor} 倍",
        "spike_idle": "⚠️ 用量异常：过去 {elapsed}用量 {amount}，而近 7 天几乎没有用量",
        "alert_title": "🚨API 余额告警",
        "recovered_title": "✅API 余额告警恢复",
        "alert_low": "⚠️ {name}：余额不足，剩余 {balance}（阈值 {threshold}）",
        "alert_low_days": "⚠️ {name}：按当前速度约 {days} 天后用完（剩余 {balance}）",
        "alert_exhausted": "⚠️ {name}：{note}",
        "alert_failed": "❌ {name}：查询失败：{error}",
        "alert_spike": "🔥 {name}：{line}",
        "alert_still": "（仍未恢复）",
        "ended_low": "✅ {name} 已恢复：余额回到阈值以上，剩余 {balance}",
        "ended_low_topup": "✅ {name} 已恢复：充值 {topup}，剩余 {balance}",
        "ended_failed": "✅ {name} 已恢复：查询恢复正常",
        "ended_spike": "✅ {name} 已恢复：用量回到常态",
    },
    "en": {
        "title": "💵API Balance Report",
        "test": " (test message, please ignore)",
        "remaining": "Remaining",
        "used": "Used",
        "total": "Total",
        "unlimited": "unlimited",
        "sep": ": ",
        "period_usage": "Usage in the past {elapsed}: {amount}",
        "period_reset": "Usage was reset in the past {elapsed} (used went down); not counted",
        "period_key_changed": "The key was changed; usage starts again with the new key",
        "period_topup": "Topped up {amount} in the past {elapsed}; not counted as usage",
        "period_first": "First record, no period usage yet",
        "period_usage_undated": "Usage: {amount}",
        "period_approximate_undated": "Usage: about {amount} (a reset or a new key in between)",
        "period_reset_undated": "Usage was reset (used went down); not counted",
        "period_topup_undated": "Topped up {amount}; not counted as usage",
        "period_currency": "Currency changed: {before} → {after}, no usage counted for this period",
        "period_currency_usage": "Usage in the past {elapsed}: about {amount} (currency changed: {before} → {after}; "
                                 "the usage before the change is not counted)",
        "period_currency_usage_undated": "Usage: about {amount} (currency changed: {before} → {after}; "
                                         "the usage before the change is not counted)",
        "period_clock": "The previous record is later than now (the clock moved); no period usage this time",
        "period_same_second": "In the same second as the previous run; no period usage this time",
        "clock_moved": " (the previous record is later than now: the clock moved, so the time is unknown)",
        "same_second": " (in the same second as the previous run)",
        "period_too_old": "The previous record is older than the retention; no period usage this time",
        "period_not_comparable": "Cannot compare with the previous record; no period usage this time",
        "seconds": "{n} s",
        "minutes": "{n} min",
        "hours": "{n} h",
        "days": "{n} d",
        "burn": "Burn rate: ≈ {rate}/day",
        "burn_days": "Burn rate: ≈ {rate}/day, about {days} days left",
        "trend": "Last 7 days",
        "failed": "Query failed",
        "low_balance": "⚠️ Balance below {threshold}",
        "low_days": "⚠️ Runs out in about {days} days at the current rate",
        "exhausted": "⚠️ {note}",
        "totals": "Total remaining",
        "no_totals": "none",
        "succeeded": "Queried: {ok}/{all} accounts",
        "footnote": "Note: period usage is the difference of snapshots; "
                    "a reset or a new key in between makes it approximate.",
        "history_warning": "⚠️ History: {warning}",
        "history_not_saved": "⚠️ History was not saved this time: {reason}",
        "part": " (part {n}/{count})",
        "keyword": "Keyword: {keyword}",
        "note": "Note",
        "period_approximate": "Usage in the past {elapsed}: about {amount} (a reset or a new key in between)",
        "period_with_topup": " (topped up {amount} in between, not counted as usage)",
        "spike": "⚠️ Unusual spending: {amount} in the past {elapsed}, about {factor}× the usual rate of 7 days",
        "spike_idle": "⚠️ Unusual spending: {amount} in the past {elapsed}, after 7 days with almost none",
        "alert_title": "🚨API balance alert",
        "recovered_title": "✅API balance alert resolved",
        "alert_low": "⚠️ {name}: low balance, {balance} left (threshold {threshold})",
        "alert_low_days": "⚠️ {name}: runs out in about {days} days at the current rate ({balance} left)",
        "alert_exhausted": "⚠️ {name}: {note}",
        "alert_failed": "❌ {name}: query failed: {error}",
        "alert_spike": "🔥 {name}: {line}",
        "alert_still": " (still active)",
        "ended_low": "✅ {name} recovered: back above the threshold, {balance} left",
        "ended_low_topup": "✅ {name} recovered: topped up {topup}, {balance} left",
        "ended_failed": "✅ {name} recovered: the query works again",
        "ended_spike": "✅ {name} recovered: spending is back to usual",
    },
}

SYMBOLS = {"USD": "$", "CNY": "¥"}
def money(amount: Decimal, currency: str | None) -> str:
    """``$1.2345``, ``¥88.0000``, ``-$1.0000``, ``EUR 3.5000``: always four decimals."""
    value = rounded(amount)
    sign = "-" if value < 0 else ""
    symbol = SYMBOLS.get(currency or "", f"{currency} " if currency else "")
    return f"{sign}{symbol}{abs(value):.4f}"


def rate(amount: Decimal, currency: str | None) -> str:
    value = rounded(amount, Decimal("0.01"))
    symbol = SYMBOLS.get(currency or "", f"{currency} " if currency else "")
    return f"{symbol}{value:.2f}"


def days(amount: Decimal) -> str:
    return f"{rounded(amount, Decimal('0.1')):f}" if amount < 10 else f"{rounded(amount, Decimal('1')):f}"


def elapsed(seconds: int, language: str) -> str:
    """A span as people say it: "45 秒", "30 分钟", "2 小时 5 分钟", "3 天 4 小时", "40 天" ("45 s", "30 min",
    "2 h 5 min", "3 d 4 h", "40 d"). Under a minute in seconds; under a day in hours and minutes, the
    minutes rounded half-up (90 s is 2 minutes); from a day on in days and hours, the hours rounded half-up.
    A part that is zero is left out. ``seconds`` is never negative (a clock step has no span to show)."""
    w = WORDS[language]
    if seconds < 60:
        return w["seconds"].format(n=max(seconds, 0))
    minutes = (seconds + 30) // 60
    if minutes < 24 * 60:
        parts = [("hours", minutes // 60), ("minutes", minutes % 60)]
    else:
        hours = (seconds + 1800) // 3600  # from the seconds: 4 h 29 min 40 s is 4 h, not 4 h 30 min then 5 h
        parts = [("days", hours // 24), ("hours", hours % 24)]
    return " ".join(w[unit].format(n=n) for unit, n in parts if n)


# --- our own notes and error texts, as a Chinese report shows them --------------------------------
# The providers and the HTTP layer write them in English (and --json keeps them so: scripts match on
# them); only what a person reads in a zh report is translated here. A provider's own message
# ("HTTP 401: 无效的令牌") is shown as the provider sent it.

NOTES_ZH = {
    "quota exhausted": "额度已用尽",
    "key expired": "密钥已过期",
    "key limit reached": "已达到密钥的额度上限",
    "no balance listed": "答复中没有列出余额",
    "overdrawn: used more than the limit (if the relay's page shows another balance, set hard_limit: remaining)":
        "已透支：已用超过额度上限（如果中转站页面显示的余额不同，请设置 hard_limit: remaining）",
}

REASONS_ZH = {
    "connection refused": "连接被拒绝",
    "host name not found": "找不到主机名",
    "connection reset": "连接被重置",
    "connection closed without an answer": "连接被关闭，没有应答",
    "TLS certificate problem": "TLS 证书有问题",
    "network unreachable": "网络不可达",
    "answer cut off": "应答被截断",
    "connection failed": "连接失败",
}

_ERRORS_ZH = [
    (re.compile(r"timed out after (\S+) s connecting \((.+)\)"), "超时：{0} 秒内未能连上 {1}"),
    (re.compile(r"timed out after (\S+) s waiting for an answer \((.+)\)"), "超时：{1} 在 {0} 秒内没有应答"),
    (re.compile(r"timed out: no answer within the run's limit of (\S+) s"), "超时：在本次运行的 {0} 秒时限内没有应答"),
    (re.compile(r"timed out: the run's time limit was reached"), "超时：已到本次运行的时限"),
    (re.compile(r"(\S+) asked us to wait (\S+) s, past the run's time limit"),
     "{0} 要求等待 {1} 秒，超出本次运行的时限"),
    (re.compile(r"response is not JSON \((.*)\)"), "答复不是 JSON（{0}）"),
    (re.compile(r"HTTP 429: the server asks to wait (\S+) s, longer than the run has left"),
     "HTTP 429：服务器要求等待 {0} 秒，超出本次运行剩余的时间"),
]
_CANNOT_REACH = re.compile(r"cannot reach (\S+): (.+)")


def localised(text: str, language: str) -> str:
    """A note or error of ours in the report's language; anything else unchanged."""
    if language != "zh":
        return text
    if text in NOTES_ZH:
        return NOTES_ZH[text]
    reach = _CANNOT_REACH.fullmatch(text)
    if reach:
        return f"无法连接 {reach.group(1)}：{REASONS_ZH.get(reach.group(2), reach.group(2))}"
    for pattern, words in _ERRORS_ZH:
        match = pattern.fullmatch(text)
        if match:
            return words.format(*match.groups())
    return text
