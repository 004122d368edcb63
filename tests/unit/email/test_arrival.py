"""A claim by mail counts from the mail's arrival at our server (topmost Received header)."""

from __future__ import annotations

import datetime as dt

import pytest

from adapters.email.normalize import arrived_at, parse_mail

OURS = "from mail.dept.test (localhost [127.0.0.1]) by hub.test (Postfix) with ESMTP id 4Q; "
FORGED = "from evil by relay.example; Mon, 1 Jan 2024 00:00:00 +0000"


@pytest.mark.parametrize(
    ("headers", "expected"),
    [
        (
            [OURS + "Fri, 9 Oct 2026 23:59:58 +0800 (CST)", FORGED],
            dt.datetime(2026, 10, 9, 15, 59, 58, tzinfo=dt.UTC),
        ),
        ([OURS + "not a date"], None),
        ([OURS.rstrip("; ")], None),  # no date part
        ([], None),
    ],
)
def test_arrival_is_the_topmost_received_date(
    headers: list[str], expected: dt.datetime | None
) -> None:
    raw = "".join(f"Received: {h}\r\n" for h in headers) + "Subject: x\r\n\r\n认领\r\n"
    assert arrived_at(parse_mail(raw.encode())) == expected
