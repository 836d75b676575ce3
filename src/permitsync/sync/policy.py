"""When to try again: a pure policy object, so that retry timing is decided in one place and
tested without waiting."""

from __future__ import annotations

import random
from dataclasses import dataclass, field

#: The largest exponent used: far beyond any sane ``max_delay_s`` (2**64 s), far below a float's
#: overflow (2**1024).
MAX_EXPONENT = 64


@dataclass(frozen=True, slots=True)
class RetryPolicy:
    """Exponential backoff with full jitter, never sooner than Passport's ``Retry-After``.

    The n-th consecutive failure (n ≥ 1) waits a random time in
    ``[base·factor^(n-1)/2, base·factor^(n-1)]`` capped at ``max_delay_s``; a ``Retry-After``
    raises that to at least its value (A-2), and is itself capped at ``max_retry_after_s`` so
    a bogus header cannot stall a right for days.
    """

    base_delay_s: float = 0.5
    factor: float = 2.0
    max_delay_s: float = 300.0
    max_retry_after_s: float = 3600.0
    rng: random.Random = field(default_factory=random.Random, compare=False)

    def delay(self, attempts: int, *, retry_after_s: float | None = None) -> float:
        """Seconds to wait after the ``attempts``-th consecutive failure."""
        # Capped so that a right failing for days (thousands of attempts) cannot overflow
        # ``factor ** exponent``: 2.0 ** 1024 raises OverflowError.
        exponent = min(max(attempts - 1, 0), MAX_EXPONENT)
        ceiling = min(self.max_delay_s, self.base_delay_s * self.factor**exponent)
        wait = self.rng.uniform(ceiling / 2, ceiling)
        if retry_after_s is not None and retry_after_s > 0:
            wait = max(wait, min(retry_after_s, self.max_retry_after_s))
        return wait
