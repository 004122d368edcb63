"""Email channel (公务安全邮箱) — built in the email issue."""
