"""Table tests of the dashboard's decisions: lock-out, send outcomes, percentiles, chart axes,
where a login may send the browser, and a permit's one-word enforcement status."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest

from permitsync.domain.activity import percentile, send_outcome
from permitsync.domain.errors import DomainValidationError
from permitsync.services.users import LockoutPolicy, after_failure, check_password, normalize_email
from permitsync.web.auth_pages import safe_next
from permitsync.web.charts import nice_max
from permitsync.web.permit_pages import enforcement

NOW = datetime(2026, 11, 27, 12, 0, tzinfo=UTC)
POLICY = LockoutPolicy(max_failures=3, pause=timedelta(minutes=5))
LATER = NOW + timedelta(minutes=5)


@pytest.mark.parametrize(
    ("failures", "locked_until", "expected"),
    [
        (0, None, (1, None)),  # first failure counts
        (1, None, (2, None)),
        (2, None, (0, LATER)),  # the third pauses the account and starts counting afresh
        (0, NOW - timedelta(seconds=1), (1, None)),  # an expired pause is forgotten
        (0, NOW + timedelta(minutes=1), (0, NOW + timedelta(minutes=1))),  # paused: unchanged
    ],
)
def test_lockout_after_failures(
    failures: int, locked_until: datetime | None, expected: tuple[int, datetime | None]
) -> None:
    assert after_failure(failures, locked_until, NOW, POLICY) == expected


@pytest.mark.parametrize(
    ("status", "outcome"),
    [
        (200, "accepted"),
        (202, "accepted"),
        (207, "partial"),
        (None, "retried"),
        (408, "retried"),
        (429, "retried"),
        (500, "retried"),
        (503, "retried"),
        (400, "refused"),
        (401, "refused"),
        (422, "refused"),
    ],
)
def test_send_outcome(status: int | None, outcome: str) -> None:
    assert send_outcome(status) == outcome


@pytest.mark.parametrize(
    ("values", "fraction", "expected"),
    [
        ([], 0.5, None),
        ([7.0], 0.95, 7.0),
        ([1.0, 2.0, 3.0, 4.0], 0.5, 2.0),
        ([4.0, 1.0, 3.0, 2.0], 0.95, 4.0),
        ([float(i) for i in range(1, 101)], 0.95, 95.0),
        ([float(i) for i in range(1, 101)], 0.5, 50.0),
    ],
)
def test_percentile_nearest_rank(values: list[float], fraction: float, expected: float) -> None:
    assert percentile(values, fraction) == expected


@pytest.mark.parametrize(
    ("value", "top"),
    [(0, 1), (1, 1), (1.5, 2), (3, 5), (5, 5), (6, 10), (11, 20), (240, 500), (501, 1000)],
)
def test_chart_axis_top(value: float, top: float) -> None:
    assert nice_max(value) == top


@pytest.mark.parametrize(
    ("target", "expected"),
    [
        ("/companies/uni", "/companies/uni"),
        ("/companies?q=a", "/companies?q=a"),
        (None, "/"),
        ("", "/"),
        ("https://evil.example/", "/"),
        ("//evil.example/", "/"),
        ("/\\evil.example", "/"),
        ("javascript:alert(1)", "/"),
    ],
)
def test_login_goes_only_to_a_path_of_this_site(target: str | None, expected: str) -> None:
    assert safe_next(target) == expected


@pytest.mark.parametrize(
    ("counts", "word"),
    [
        (None, "none"),
        ({"synced": 0, "pending": 0, "parked": 0}, "none"),
        ({"synced": 2, "pending": 0, "parked": 0}, "synced"),
        ({"synced": 2, "pending": 1, "parked": 0}, "pending"),
        ({"synced": 0, "pending": 1, "parked": 1}, "parked"),
    ],
)
def test_permit_enforcement_word(counts: dict[str, int] | None, word: str) -> None:
    assert enforcement(counts) == word


@pytest.mark.parametrize(
    ("raw", "expected"),
    [(" Ada@Example.COM ", "ada@example.com"), ("a.b+c@x.example", "a.b+c@x.example")],
)
def test_email_normalised(raw: str, expected: str) -> None:
    assert normalize_email(raw) == expected


@pytest.mark.parametrize("raw", ["", "ada", "ada@", "@x.example", "ada@localhost", "a b@x.example"])
def test_email_refused(raw: str) -> None:
    with pytest.raises(DomainValidationError, match="email"):
        normalize_email(raw)


@pytest.mark.parametrize("password", ["", "short", "x" * 11, "x" * 1025])
def test_password_length_refused(password: str) -> None:
    with pytest.raises(DomainValidationError, match="password"):
        check_password(password)
