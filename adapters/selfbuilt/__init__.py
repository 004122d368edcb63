"""Self-built system channel (自建业务系统) — not built yet."""
