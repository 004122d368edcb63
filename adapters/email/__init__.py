"""Email channel (邮件推送): the government secure mailbox (公务安全邮箱), non-classified only.

Features
    * Outbound: :class:`EmailAdapter` ``deliver`` renders each note (``render.py``, Jinja2
      templates in ``templates/``) as a Chinese multipart/alternative mail (plain text + HTML)
      for the department's clerk: what arrived, the key fields of its kind (事项名称, 行政相对人,
      统一社会信用代码, 许可文号, 有效期, 许可内容, risk points …), the deadlines in words and as
      dates, and how to act by replying. Attachments whose bytes the blob store has are attached
      (RFC 2231 Chinese file names) up to ``max_attachment_bytes`` in total; the rest are listed
      as being on the platform.
    * Threading: the push's Message-ID is ``<D….push@<domain>>`` (a resend is the same mail);
      reminders, escalations and notices reply to it (In-Reply-To/References), so a department
      sees one conversation per delivery. Pushes, reminders and auto-claim notices are not
      ``Auto-Submitted`` (their replies must not be suppressed); escalations and notices are.
    * SMTP (``client.py``, the only module importing aiosmtplib): a bounded pool of reused
      connections (a connection the server closed is replaced transparently), STARTTLS or
      implicit TLS verified against a CA file, AUTH, a per-recipient-domain concurrency limit.
      Errors say whether a retry can help: 5xx refusals, AUTH and certificate failures are
      permanent; 4xx answers, timeouts and lost connections are retryable.
    * Classified (涉密) or offline-only content is refused before rendering, whatever the
      router decided (``security.classified_online``).

Config keys (:class:`EmailConfig`, unknown keys rejected; ``EmailConfig.from_env``)
    ``HUB_SMTP_URL`` (``smtp+starttls://USER:PASS@HOST:587``, ``smtps://`` implicit TLS,
    ``smtp://`` plain; ``?verify=false`` only for tests), ``HUB_IMAP_URL``, ``HUB_MAIL_FROM``
    (the hub's mailbox: mail comes from it, replies go back to it), ``HUB_MAIL_CAFILE``,
    ``HUB_MAIL_TOKEN_SECRET`` (key of the reply tokens). In code also ``from_name``,
    ``pool_size`` (4), ``per_domain_concurrency`` (2), ``max_attachment_bytes`` (20 MiB), and the
    IMAP folders and timings of the inbound watcher.

How claims are detected
    A department claims by replying to the mail: the first line of the body is “认领” (an
    objection: “异议：” and the reason). The reply goes to the hub's mailbox, where the inbound
    watcher reads it over IMAP and finds its delivery by the subject tag
    ``[审管互动 D…·token]`` (the token is an HMAC of the delivery id: a forged claim for another
    department's delivery fails) or else by References/In-Reply-To naming one of our
    Message-IDs (``threading.py``). The claim is reported to the hub, which owns claim states
    and deadlines; the adapter never decides whether a claim is late.

Files: ``adapter.py`` (the ``ChannelAdapter``), ``render.py``, ``fields.py`` and ``templates/``
(outbound mail),
``client.py`` (SMTP), ``normalize.py`` (pure, inbound), ``threading.py`` (Message-IDs, tokens),
``config.py``.
"""

from adapters.email.adapter import EmailAdapter
from adapters.email.config import EmailConfig

__all__ = ["EmailAdapter", "EmailConfig"]
