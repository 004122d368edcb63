"""Platform channel (平台推送): the 审管信息互动平台 / 山东政务服务网 push-and-claim channel.

Features
    * Inbound: departments (or the platform) push over HTTP (:func:`create_app`): the canonical
      message JSON at ``POST /messages``, or the platform's own flat format at
      ``POST /platform/messages`` (``normalize.py`` documents it: 审批信息, 监管信息), or up to 500
      canonical messages at ``POST /messages:batch`` (one transaction, a result each). Bearer
      token per department; a department pushes only in its own name (spoofing → 403). Invalid
      or unroutable input is answered with every problem in Chinese and English and quarantined
      in the hub, never dropped.
    * Outbound: :class:`PlatformAdapter` ``deliver`` POSTs a JSON callback (the message, its
      deadlines in ISO and in Chinese, action links) to the department's
      ``PlatformAddress.endpoint``, with an ``Idempotency-Key`` the receiver dedupes on and an
      optional HMAC-SHA256 signature (``X-Hub-Signature: sha256=…``). Connect errors,
      timeouts, 5xx, 429 and 408 are retryable; 3xx and other 4xx are permanent. At most
      ``max_in_flight_per_department`` callbacks to one department and ``max_in_flight`` in all
      are in flight; connections are kept alive and reused.
    * Classified (涉密) or offline-only content is refused before any request, whatever the
      router decided (``security.classified_online``).

Config keys (:class:`PlatformConfig`, unknown keys rejected)
    ``connect_timeout_s`` (5), ``total_timeout_s`` (15, one request), ``queue_timeout_s`` (15,
    the wait for an in-flight slot), ``max_in_flight`` (64), ``max_in_flight_per_department``
    (4), ``max_connections`` (per host; unset = ``max_in_flight``), ``user_agent``,
    ``max_body_bytes`` (2 MiB: attachments are references, not bytes),
    ``signing_secret_env`` (name of the env var holding the HMAC secret; unset = unsigned),
    ``public_base_url`` (makes the callback's action links absolute).

How claims are detected
    Claims come back through the API, not by polling: the department's system (or liaison
    officer) calls ``POST /deliveries/{id}/claim`` (also ``/objection`` and ``/reply``) with its
    token; the API hands it to ``HubApi.claim_async``, which owns claim states and deadlines. The
    adapter never decides whether a claim is late or due.

Files: ``adapter.py`` (the ``ChannelAdapter``), ``normalize.py`` (pure), ``client.py`` (the only
module importing aiohttp), ``config.py``, ``api.py``, ``api_ingest.py`` and ``api_schema.py``
(the HTTP API; endpoints are ``async def`` on the hub's group-committed async calls).
"""

from adapters.platform.adapter import PlatformAdapter
from adapters.platform.api import create_app
from adapters.platform.config import PlatformConfig
from adapters.platform.normalize import normalize_platform

__all__ = ["PlatformAdapter", "PlatformConfig", "create_app", "normalize_platform"]
