"""The plate-diagnosis verdicts, one row per case, in the order a permit travels."""

from __future__ import annotations

from dataclasses import replace
from datetime import UTC, datetime

import pytest

from permitsync.domain.diagnosis import HeldInPassport, PlaceFacts, RightFacts, verdict

END = datetime(2027, 1, 1, 4, 59, tzinfo=UTC)  # 2026-12-31 23:59 in New York
SYNCED = RightFacts(
    "ps-1",
    "synced",
    desired_present=True,
    acked="open",
    pending_s=0.0,
    last_outcome=None,
    problem_code=None,
)
PENDING = replace(SYNCED, status="pending", acked="none", pending_s=3.2)
RETRYING = replace(PENDING, pending_s=40.0, last_outcome="retrying: 503")
PARKED = replace(PENDING, status="parked", problem_code="zone_not_found")
SEEN = HeldInPassport("LotB", END, "ps-1")
BASE = PlaceFacts(
    permit_status="active",
    integration_state="live",
    location_name="Lot B",
    timezone="America/New_York",
    zone="LotB",
    zone_present=True,
    right=SYNCED,
    lookup_ok=True,
    in_passport=SEEN,
)


@pytest.mark.parametrize(
    ("facts", "code", "sentence"),
    [
        (BASE, "in_passport", "Passport has it in LotB until 2026-12-31 23:59 EST"),
        (
            replace(BASE, integration_state=None, in_passport=None, right=None),
            "no_integration",
            "not sent: the company has no Passport integration yet",
        ),
        (
            replace(BASE, zone=None, zone_present=False, right=None, in_passport=None),
            "location_unmapped",
            "not sent: location Lot B is not mapped to a Passport zone",
        ),
        (
            replace(BASE, permit_status="suspended", in_passport=None),
            "permit_suspended",
            "not sent: permit suspended",
        ),
        (
            replace(BASE, permit_status="cancelled", in_passport=None),
            "permit_cancelled",
            "not sent: permit cancelled",
        ),
        (
            replace(BASE, integration_state="ready_for_testing", right=PENDING, in_passport=None),
            "not_live",
            "not sent: the integration is not live yet (ready for testing)",
        ),
        (
            replace(BASE, integration_state="paused", right=PENDING, in_passport=None),
            "paused",
            "not sent: the integration is paused",
        ),
        (
            replace(BASE, zone="LotA", zone_present=False, right=PENDING, in_passport=None),
            "zone_gone",
            "held: zone LotA no longer exists in Passport — refresh zones and remap Lot B",
        ),
        (
            replace(BASE, right=PARKED, in_passport=None),
            "parked",
            "parked: Passport refused zone_not_found",
        ),
        (replace(BASE, right=PENDING, in_passport=None), "pending", "pending for 3 s"),
        (
            replace(BASE, right=RETRYING, in_passport=None),
            "pending",
            "pending for 40 s (retrying: 503)",
        ),
        (
            replace(BASE, in_passport=None),
            "missing_in_passport",
            "Passport does not have it although it was acknowledged — reconciliation",
        ),
        (
            replace(BASE, in_passport=None, lookup_ok=False),
            "acknowledged",
            "acknowledged by Passport (the live lookup could not be made)",
        ),
        # A test plate's right goes before the integration is live.
        (
            replace(BASE, integration_state="ready_for_testing", right=replace(PENDING, test=True)),
            "in_passport",
            "Passport has it in LotB",
        ),
        (
            replace(
                BASE,
                integration_state="ready_for_testing",
                right=replace(PENDING, test=True),
                in_passport=None,
            ),
            "pending",
            "pending for 3 s",
        ),
        (
            replace(
                BASE,
                permit_status="cancelled",
                right=replace(PENDING, desired_present=False, pending_s=2.0),
            ),
            "stopping",
            "stopping: Passport still has it in LotB until 2026-12-31 23:59 EST",
        ),
        (
            replace(BASE, right=replace(SYNCED, acked="stopped"), in_passport=None),
            "not_valid_now",
            "not in Passport",
        ),
    ],
)
def test_verdicts(facts: PlaceFacts, code: str, sentence: str) -> None:
    got_code, got_sentence = verdict(facts)
    assert got_code == code
    assert got_sentence.startswith(sentence)


def test_an_end_at_local_midnight_reads_as_the_last_minute_of_the_day() -> None:
    from permitsync.domain.diagnosis import local_time  # noqa: PLC0415

    midnight_ny = datetime(2100, 1, 1, 5, 0, tzinfo=UTC)
    assert local_time(midnight_ny, "America/New_York") == "2099-12-31 23:59 EST"
    assert local_time(END, "America/New_York") == "2026-12-31 23:59 EST"
    assert local_time(datetime(2026, 7, 1, 16, 30, tzinfo=UTC), "America/New_York") == (
        "2026-07-01 12:30 EDT"
    )
