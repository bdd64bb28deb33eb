"""api-balance-monitor: one cron pass over many LLM API balances, reported to Feishu."""

__version__ = "0.1.0"
