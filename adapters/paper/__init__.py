"""Paper channel (纸质推送): for classified (涉密) content and whatever cannot go online.

Features: outbound notes are rendered as a Chinese 纸质推送单 (plain text, printable) plus a JSON
record in a spool folder, one subfolder per department, for the registry office to print, seal
and dispatch. Inbound paper is registered by an operator as a canonical JSON message
(``hub push``), so ``normalize`` is the canonical parser.

Config keys (``PaperConfig``): ``spool_dir`` (default ``var/paper``).
Claims: recorded by the receiving department's liaison through the API or by an operator; the
adapter never decides a claim.
"""

from adapters.paper.adapter import PaperAdapter
from adapters.paper.config import PaperConfig

__all__ = ["PaperAdapter", "PaperConfig"]
