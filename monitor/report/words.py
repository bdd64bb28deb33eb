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
        "period_clock": "上次记录的时间晚于现在（系统时钟被回调？），本次不计时段用量",
        "period_too_old": "上次记录早于保留期，本次不计时段用量",
        "period_not_comparable": "无法与上次记录比较，本次不计时段用量",
        "elapsed": "{hours} 小时 {minutes} 分钟",
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
        "footnote": "注：时段用量为两次快照之差；期间如有重置或充值，数值为近似值。",
        "history_warning": "⚠️ 历史记录：{warning}",
        "history_not_saved": "⚠️ 本次历史记录未能保存：{reason}",
        "part": "（第 {n}/{count} 部分）",
        "keyword": "关键词：{keyword}",
        "note": "说明",
        "period_approximate": "在过去的 {elapsed}用量约为：{amount}（期间用量被重置或更换了密钥，为近似值）",
        "period_with_topup": "（期间充值 {amount}，不计入用量）",
        "period_untimed": "本时段用量为：{amount}",
        "period_untimed_approximate": "本时段用量约为：{amount}（期间用量被重置或更换了密钥，为近似值）",
        "period_topup_untimed": "本时段充值了 {amount}，不计入用量",
        "clock_moved": "（上次记录的时间晚于现在，系统时钟被回调？不计时长）",
        "period_currency": "币种变更：{before} → {after}，本时段不计用量",
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
        "period_clock": "The previous record is in the future (clock moved back?); no period usage this time",
        "period_too_old": "The previous record is older than the retention; no period usage this time",
        "period_not_comparable": "Cannot compare with the previous record; no period usage this time",
        "elapsed": "{hours} h {minutes} min",
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
        "footnote": "Note: period usage is the difference of two snapshots; resets and top-ups make it approximate.",
        "history_warning": "⚠️ History: {warning}",
        "history_not_saved": "⚠️ History was not saved this time: {reason}",
        "part": " (part {n}/{count})",
        "keyword": "Keyword: {keyword}",
        "note": "Note",
        "period_approximate": "Usage in the past {elapsed}: about {amount} (a reset or a new key in between)",
        "period_with_topup": " (topped up {amount} in between, not counted as usage)",
        "period_untimed": "Usage this period: {amount}",
        "period_untimed_approximate": "Usage this period: about {amount} (a reset or a new key in between)",
        "period_topup_untimed": "Topped up {amount} this period; not counted as usage",
        "clock_moved": " (the previous record is in the future: clock moved back? no duration)",
        "period_currency": "Currency changed: {before} → {after}; no period usage this time",
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
    minutes_total = int(round(seconds / 60))
    return WORDS[language]["elapsed"].format(hours=minutes_total // 60, minutes=minutes_total % 60)


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
