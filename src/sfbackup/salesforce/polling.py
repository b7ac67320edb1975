"""When to ask Salesforce again about work it does on its own time (a Bulk query job, a Metadata
API retrieve): soon while the work is young, then less often as it ages.

The next wait grows 1.5x from the first, at most 2 s while the work is young and at most a
twentieth of its age later (30 s at most): work that takes 35 s is seen done within 2 s of
finishing, work that takes an hour costs ~180 polls (API calls), not 720 at 5 s each."""

from __future__ import annotations

#: Seconds before the first poll.
FIRST_WAIT = 0.2
_GROWTH = 1.5
_YOUNG_MAX = 2.0
_AGE_SHARE = 1 / 20
#: The longest wait between two polls.
LONGEST_WAIT = 30.0


def next_wait(wait: float, age: float, *, longest: float = LONGEST_WAIT) -> float:
    """The wait after `wait`, for work submitted `age` seconds ago."""
    return min(wait * _GROWTH, max(_YOUNG_MAX, age * _AGE_SHARE), longest)
