"""``hub simulate``: rehearse what the running hub will do over days, in seconds.

The real hub (``hub.core.hub.Hub`` and its HTTP API, the platform channel over real HTTP) runs on
a throwaway SQLite ledger in a temp dir, driven by a virtual clock that jumps from one due
instant to the next; loopback departments behave as a behaviour file says (claim, object,
reply, stay silent, be down, bounce mail). The report says, per push and department, what
happened and when, read back from the ledger's events.

Modules: ``behaviour`` (the behaviour file, strict), ``departments`` (loopback endpoints, the
stand-in mail channel, department actions), ``engine`` (the run), ``report`` (per push).
"""

from hub.sim.behaviour import Behaviour, BehaviourError, load_behaviour
from hub.sim.engine import Outcome, SimInput, simulate
from hub.sim.rehearse import rehearse
from hub.sim.report import DeliveryReport, PushReport, Report, build_report

__all__ = [
    "Behaviour",
    "BehaviourError",
    "DeliveryReport",
    "Outcome",
    "PushReport",
    "Report",
    "SimInput",
    "build_report",
    "load_behaviour",
    "rehearse",
    "simulate",
]
