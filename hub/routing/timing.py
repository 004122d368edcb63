"""Which deadline specs can work where: forward deadlines, and reminders after arrival.

A claim, objection, reply or push deadline counts forward from an instant: a before-spec
(``-1wd``, ``提前1个工作日``) there cannot work. Before-specs belong to reminders and advance
notices only.

A reminder counts back from its deadline (:mod:`hub.clock.deadline`). With D the arrival date and
W1, W2, … the working days after D, a deadline of N whole working days is due at the end of WN;
``-Mwd`` before it is the morning start of W(N-M+1), so every ``M <= N`` fires on a working day
after D — after the arrival, however late in the day the push came. ``-(N+1)wd`` is the morning of
a working day on or before D, and ``-N.5wd`` (N >= 1) one half day further back, the afternoon of
a working day on or before D: a push arriving late on D would be reminded before it arrived.
Hence, in half days (``1wd`` = 2):

* ``same_day`` (当日): any reminder can fire before arrival (the deadline is the end of the
  arrival day; an afternoon arrival already passed ``-0.5wd``, the afternoon's start);
* a lone ``0.5wd``: only ``-0.5wd`` works (the start of the slot that ends the deadline, which
  starts after the arrival); ``-1wd`` or more reaches back before the arrival day;
* ``Nwd`` (N whole): a reminder of at most N working days works; ``-1wd`` before ``1wd`` is the
  morning of the due day;
* ``N.5wd`` (N >= 1): the deadline is the end of the morning of W(N+1); a reminder shorter than
  ``N.5wd`` works, ``-N.5wd`` itself is the afternoon of a working day on or before D.

``tests/unit/routing/test_timing.py`` checks these rules against ``compute_deadline`` over every
half hour of weeks around National Day.
"""

from __future__ import annotations

from hub.clock.spec import DeadlineSpec


def reminder_fires_before_arrival(deadline: DeadlineSpec, reminder: DeadlineSpec) -> bool:
    """True when ``reminder`` (a before-spec) can fire at or before some arrival instant."""
    if deadline.kind == "same_day":
        return True
    length, back = deadline.half_days, reminder.half_days
    if length == 1:
        return back > 1
    if length % 2 == 0:
        return back > length
    return back >= length


def forward_problem(spec: DeadlineSpec) -> tuple[str, str] | None:
    """Chinese and English text when ``spec`` cannot be a forward deadline, else None."""
    if not spec.before:
        return None
    return (
        f"期限不能是“提前”期限 {spec}（提前量只用于 reminders 和 advance_notice）",
        f"a deadline cannot count backwards ({spec!s}): "
        "before-specs are only for reminders and advance_notice",
    )


def reminder_problem(deadline: DeadlineSpec, reminder: DeadlineSpec) -> tuple[str, str] | None:
    """Chinese and English text when ``reminder`` can fire before the push arrives."""
    if not reminder_fires_before_arrival(deadline, reminder):
        return None
    if deadline.kind == "same_day":
        zh_why = "“当日”期限不能设提醒：下午到达的推送会在到达前就被提醒"
        en_why = "a same_day deadline takes no reminder: a push arriving in the afternoon"
        en_why += " would be reminded before it arrived"
    else:
        zh_why = f"提醒 {reminder} 对期限 {deadline} 而言过早，可能早于推送到达"
        en_why = f"reminder {reminder!s} before a {deadline!s} deadline can fire before the push"
        en_why += " arrives"
    return zh_why, en_why
