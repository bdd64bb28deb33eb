"""The report's words in Chinese (the default) and English, and how money and durations read."""

from __future__ import annotations

import re
from collections.abc import Callable
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
        "exhausted_balance": "⚠️ 余额已用尽",
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
        "alert_exhausted_balance": "⛔ {name}：余额已用尽，剩余 {balance}",
        "alert_failed": "❌ {name}：查询失败：{error}",
        "alert_spike": "🔥 {name}：{line}",
        "alert_still": "（仍未恢复）",
        "ended_low": "✅ {name} 已恢复：余额回到阈值以上，剩余 {balance}",
        "ended_low_topup": "✅ {name} 已恢复：充值 {topup}，剩余 {balance}",
        "ended_failed": "✅ {name} 已恢复：查询恢复正常",
        "ended_spike": "✅ {name} 已恢复：用量回到常态",
        "site_channels": "渠道 {count} 个：正常 {ok}，余额低 {low}，失败 {failed}，已停用 {disabled}",
        "site_channels_unknown": "，余额不可查 {unknown}",
        "site_channel_sum": "渠道余额合计（未停用的）",
        "site_users": "用户 {count} 个：低于阈值 {low} 个，剩余额度合计 {remaining}",
        "site_users_failed": "，无法读取 {failed} 个",
        "site_more_channels": "……另有 {count} 个渠道需要关注（完整列表见 --json、指标和 history 命令）",
        "site_more_users": "……另有 {count} 个用户需要关注（完整列表见 --json、指标和 history 命令）",
        "site_keys": "密钥 {count} 个：预算低或用尽 {low}，失败 {failed}，不限额 {unlimited}",
        "site_teams": "团队 {count} 个：预算低或用尽 {low}，失败 {failed}，不限额 {unlimited}",
        "site_more_keys": "……另有 {count} 个密钥需要关注（完整列表见 --json、指标和 history 命令）",
        "site_more_teams": "……另有 {count} 个团队需要关注（完整列表见 --json、指标和 history 命令）",
        "alert_site_more": "……{site}：另有 {count} 项变化（完整列表见 --json 和 history 命令）",
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
        "exhausted_balance": "⚠️ The balance is used up",
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
        "alert_exhausted_balance": "⛔ {name}: the balance is used up, {balance} left",
        "alert_failed": "❌ {name}: query failed: {error}",
        "alert_spike": "🔥 {name}: {line}",
        "alert_still": " (still active)",
        "ended_low": "✅ {name} recovered: back above the threshold, {balance} left",
        "ended_low_topup": "✅ {name} recovered: topped up {topup}, {balance} left",
        "ended_failed": "✅ {name} recovered: the query works again",
        "ended_spike": "✅ {name} recovered: spending is back to usual",
        "site_channels": "Channels: {count} — {ok} ok, {low} low, {failed} failed, {disabled} disabled",
        "site_channels_unknown": ", {unknown} balance not available",
        "site_channel_sum": "Channel balances (not disabled)",
        "site_users": "Users: {count} — {low} below their threshold, {remaining} left in all",
        "site_users_failed": ", {failed} unreadable",
        "site_more_channels": "… and {count} more channels that need a look (all of them: --json, metrics, history)",
        "site_more_users": "… and {count} more users that need a look (all of them: --json, metrics, history)",
        "site_keys": "Keys: {count} — {low} low or spent, {failed} failed, {unlimited} without a budget",
        "site_teams": "Teams: {count} — {low} low or spent, {failed} failed, {unlimited} without a budget",
        "site_more_keys": "… and {count} more keys that need a look (all of them: --json, metrics, history)",
        "site_more_teams": "… and {count} more teams that need a look (all of them: --json, metrics, history)",
        "alert_site_more": "… {site}: {count} more changes (the full list: --json, history)",
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
    "key budget reached": "已达到密钥的预算上限",
    "key blocked": "密钥已被禁用",
    "team budget reached": "已达到团队的预算上限",
    "team blocked": "团队已被禁用",
    "balance not available": "余额不可查",
    "channel disabled": "渠道已停用",
    "channel disabled by the relay": "渠道已被中转站自动停用",
    "user disabled": "用户已被禁用",
    "SiliconFlow no longer reports balances to API keys (/v1/user/info is retired); "
    "watch the balance in the SiliconFlow console and remove this account":
        "硅基流动已不再向 API 密钥提供余额查询（/v1/user/info 接口已停止服务）；"
        "请在硅基流动控制台查看余额，并删除此账户",
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

# What stands after "HTTP 404: " when the answer had no message of its own (providers.common._status_text).
STATUS_ZH = {
    "bad request": "请求有误",
    "unauthorized (is the key right?)": "未授权（密钥对吗？）",
    "forbidden": "拒绝访问",
    "not found (is the base_url right?)": "找不到（base_url 对吗？）",
    "rate limited (empty answer)": "被限流（空答复）",
    "server error": "服务器出错",
    "bad gateway": "网关出错",
    "service unavailable": "服务不可用",
    "gateway timeout": "网关超时",
    "error": "出错",
}

_MOONSHOT_HINT = ("a key from platform.moonshot.cn works only on api.moonshot.cn, one from .ai only on "
                  "api.moonshot.ai")
_MOONSHOT_HINT_ZH = "platform.moonshot.cn 的密钥只能用于 api.moonshot.cn，.ai 的密钥只能用于 api.moonshot.ai"


def _wait_zh(text: str) -> str:
    """http._seconds: "12 s" or "indefinitely"."""
    return "无限期" if text == "indefinitely" else re.sub(r"^(\S+) s$", r"\1 秒", text)


def _described_zh(text: str) -> str:
    """common._describe_non_json: "text/html, 'Just a moment...'", "no content type, empty body"."""
    text = re.sub(r"^no content type(?=, )", "没有内容类型", text)
    return re.sub(r", empty body$", "，正文为空", text)


# Each error text of ours (monitor/http.py, monitor/providers/*, monitor/collect.py) and its Chinese; the
# groups are passed through the function beside them (the provider's own words are kept as they came).
def _same(text: str) -> str:
    return text


_SITE_LISTS = {"channels": "渠道", "users": "用户"}  # a site entry's lists, in "users: <error>"
_ERRORS_ZH: list[tuple[re.Pattern[str], str, Callable[[str], str]]] = [
    (re.compile(r"timed out after (\S+) s connecting \((.+)\)"), "超时：{0} 秒内未能连上 {1}", _same),
    (re.compile(r"timed out after (\S+) s waiting for an answer \((.+)\)"), "超时：{1} 在 {0} 秒内没有应答", _same),
    (re.compile(r"timed out: no answer within the run's limit of (\S+) s"), "超时：在本次运行的 {0} 秒时限内没有应答",
     _same),
    (re.compile(r"timed out: the run's time limit was reached"), "超时：已到本次运行的时限", _same),
    (re.compile(r"(\S+) asks to wait (.+) more, longer than the run has left"),
     "{0} 要求再等待 {1}，超出本次运行剩余的时间", _wait_zh),
    (re.compile(r"HTTP (\d+): the server asks to wait (.+), longer than the run has left"),
     "HTTP {0}：服务器要求等待 {1}，超出本次运行剩余的时间", _wait_zh),
    (re.compile(r"HTTP (\d+): (" + "|".join(map(re.escape, STATUS_ZH)) + ")"), "HTTP {0}：{1}",
     lambda part: STATUS_ZH.get(part, part)),
    (re.compile(r"HTTP (\d+): ((?:no content type|[\w.+-]+/[\w.+-]+), empty body)"), "HTTP {0}：{1}", _described_zh),
    (re.compile(r"response is not JSON \((.*)\)"), "答复不是 JSON（{0}）", _described_zh),
    (re.compile(r"answer larger than (\d+) MB; is the URL right\?"), "答复大于 {0} MB；URL 对吗？", _same),
    (re.compile(r"answer is not a JSON object"), "答复不是 JSON 对象", _same),
    (re.compile(r"error in answer: unspecified"), "答复中有错误（未说明原因）", _same),
    (re.compile(r"error in answer: (\w+) is (-?\d+|true|false|null|\"[^\"]*\"…?)"), "答复中有错误：{0} 为 {1}", _same),
    (re.compile(r"error in answer: (.+)"), "答复中有错误：{0}", _same),
    (re.compile(r"answer has no field '(.+)'"), "答复中没有字段 '{0}'", _same),
    (re.compile(r"field '(.+)' is not a number \((.*)\)"), "字段 '{0}' 不是数字（{1}）", _same),
    (re.compile(r"field '(.+)' is not a plain decimal number \((.*)\)"), "字段 '{0}' 不是普通的十进制数（{1}）", _same),
    (re.compile(r"field '(.+)' is not a plausible amount \((.*)\)"), "字段 '{0}' 不是可信的金额（{1}）", _same),
    (re.compile(r"field '(.+)' has more than (\d+) decimals \((.*)\)"), "字段 '{0}' 的小数超过 {1} 位（{2}）", _same),
    (re.compile(r"field '(.+)' is negative \((.*)\): a relay never reports that"),
     "字段 '{0}' 为负数（{1}）：中转站不会这样报告", _same),
    (re.compile(r"field 'balance_infos' is not a list of balances"), "字段 'balance_infos' 不是余额列表", _same),
    (re.compile(r"field 'is_available' is not true or false"), "字段 'is_available' 不是 true 或 false", _same),
    (re.compile(r"answer has no (\S+) balance \(it lists (.*)\); fix the account's currency"),
     "答复中没有 {0} 余额（只列出了 {1}）；请改正账户的 currency", _same),
    (re.compile(r"balance entry has no currency code \((.*)\)"), "余额条目没有币种代码（{0}）", _same),
    (re.compile(r"field 'data' of /api/status is not an object"), "/api/status 的字段 'data' 不是对象", _same),
    (re.compile(r"(quota_per_unit|usd_exchange_rate) is (.+), not a positive number"), "{0} 为 {1}，不是正数", _same),
    (re.compile(r"unknown quota_display_type (.+) \(known: (.+)\)"), "未知的 quota_display_type {0}（已知：{1}）",
     _same),
    (re.compile(r"provider (\S+) needs base_url"), "提供方 {0} 需要 base_url", _same),
    (re.compile(r"unexpected error: (.+)"), "意外错误（程序缺陷，请报告）：{0}", _same),
    (re.compile(r"key limit: (\S+) of (\S+) (\S+) left; account credits: (\S+) of (\S+) (\S+) left"),
     "密钥额度：剩余 {0} / {1} {2}；账户余额：剩余 {3} / {4} {5}", _same),
    (re.compile(r"key limit: none; account credits: (\S+) of (\S+) (\S+) left"),
     "密钥额度：不限；账户余额：剩余 {0} / {1} {2}", _same),
    (re.compile(r"account credits not read: (.+)"), "未能读取账户余额：{0}", _same),
    (re.compile(r"balance last refreshed (\d+) days ago"), "余额为 {0} 天前刷新的值", _same),
    (re.compile(r"balance refresh failed: (.+)"), "刷新余额失败：{0}", lambda part: localised(part, "zh")),
    (re.compile(r"(channels|users): (.+)"), "{0}：{1}", lambda part: _SITE_LISTS.get(part) or localised(part, "zh")),
    (re.compile(r"(.+) \(set user_id to the admin's numeric user id\)"), "{0}（请把 user_id 设为管理员的数字用户 ID）",
     lambda part: localised(part, "zh")),
    (re.compile(r"(.+) \(access_token must be the admin's system access token, not an sk- key\)"),
     "{0}（access_token 应是管理员的系统访问令牌，而不是 sk- 密钥）", lambda part: localised(part, "zh")),
    (re.compile(r"answer of an unknown shape \(data is neither a list nor a page of items\)"),
     "答复的格式未知（data 既不是列表也不是分页）", _same),
]
_CANNOT_REACH = re.compile(r"cannot reach (\S+): (.+)")


def localised(text: str, language: str) -> str:
    """A note or error of ours in the report's language; anything else (a provider's own message) unchanged.

    The report, the card and the alert messages all show notes and errors through this one function."""
    if language != "zh":
        return text
    if text in NOTES_ZH:
        return NOTES_ZH[text]
    if text.endswith(f" ({_MOONSHOT_HINT})"):
        return f"{localised(text[:-len(_MOONSHOT_HINT) - 3], language)}（{_MOONSHOT_HINT_ZH}）"
    reach = _CANNOT_REACH.fullmatch(text)
    if reach:
        return f"无法连接 {reach.group(1)}：{REASONS_ZH.get(reach.group(2), reach.group(2))}"
    for pattern, words, part in _ERRORS_ZH:
        match = pattern.fullmatch(text)
        if match:
            return words.format(*map(part, match.groups()))
    return text
