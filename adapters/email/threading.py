"""Mail threading and reply tokens: how a reply finds its delivery.

Every note about a delivery belongs to one thread whose root is the push mail:
    root Message-ID   <D…abc.push@hub.test>       (stable: a resend is the same mail)
    later notes       <D…abc.reminder.1.x7k2@hub.test>, with In-Reply-To/References = the root
The subject carries ``[审管互动 D…abc·k3f9q2m8x1]``: the delivery id and a token (HMAC of the
id with the hub's secret), so a reply — which quotes the subject and references the root — names
its delivery, and a forged claim for someone else's delivery fails the token check.
"""

from __future__ import annotations

import hashlib
import hmac
import re
import secrets

_DELIVERY = r"D[a-z2-7]{25}"
SUBJECT_TAG = re.compile(rf"\[审管互动 ({_DELIVERY})·([a-z0-9]{{10}})\]")
MESSAGE_ID = re.compile(rf"<({_DELIVERY})\.([a-z_]+)(?:\.[^@>]*)?@([^>]+)>")


def token(delivery_id: str, secret: str) -> str:
    digest = hmac.new(secret.encode(), delivery_id.encode(), hashlib.sha256).hexdigest()
    return digest[:10]


def subject_tag(delivery_id: str, secret: str) -> str:
    return f"[审管互动 {delivery_id}·{token(delivery_id, secret)}]"


def root_message_id(delivery_id: str, domain: str) -> str:
    return f"<{delivery_id}.push@{domain}>"


def note_message_id(delivery_id: str, purpose: str, attempt: int, domain: str) -> str:
    return f"<{delivery_id}.{purpose}.{attempt}.{secrets.token_hex(3)}@{domain}>"


def find_delivery(subject: str, references: str, secret: str, domain: str) -> str | None:
    """The delivery a reply is about: a valid subject tag, else a Message-ID of ours."""
    for found in SUBJECT_TAG.finditer(subject or ""):
        delivery_id, given = found.groups()
        if hmac.compare_digest(given, token(delivery_id, secret)):
            return delivery_id
    for found in MESSAGE_ID.finditer(references or ""):
        if found.group(3) == domain:
            return found.group(1)
    return None
