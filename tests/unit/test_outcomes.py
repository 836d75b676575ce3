"""The verdict table on Passport's answer for one item (A-9, client behaviour on refusals)."""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any

import pytest
from sqlalchemy import String

from permitsync.adapters.db.schema import rights
from permitsync.domain.rights import Acked, EventType
from permitsync.sync.outcomes import Verdict, accepted, refused, verdict

NOW = datetime(2026, 11, 27, 14, 0, tzinfo=UTC)


def problem(code: str) -> dict[str, Any]:
    return {"type": f"io.passportlabs:error:{code}", "title": code}


TABLE = [
    # kind,          answer (None = accepted),          verdict
    (EventType.STARTED, None, Verdict.ACKNOWLEDGE),
    (EventType.EXTENDED, None, Verdict.ACKNOWLEDGE),
    (EventType.STOPPED, None, Verdict.ACKNOWLEDGE),
    (EventType.STOPPED, problem("session_not_found"), Verdict.DONE),
    (EventType.EXTENDED, problem("session_not_found"), Verdict.RESEND_STARTED),
    (EventType.STARTED, problem("session_not_found"), Verdict.PARK),
    (EventType.EXTENDED, problem("session_stopped"), Verdict.PARK),
    (EventType.STARTED, problem("zone_not_found"), Verdict.PARK),
    (EventType.STARTED, problem("validation_error"), Verdict.PARK),
    (EventType.STOPPED, {"type": "about:blank", "title": "no problem type"}, Verdict.PARK),
    (EventType.STARTED, {}, Verdict.PARK),
]


@pytest.mark.parametrize(("kind", "answer", "expected"), TABLE)
def test_verdict(kind: EventType, answer: dict[str, Any] | None, expected: Verdict) -> None:
    assert verdict(kind, answer) is expected


def test_nothing_to_stop_is_recorded_as_stopped_now() -> None:
    found, values = refused(EventType.STOPPED, problem("session_not_found"), NOW)
    assert found is Verdict.DONE
    assert (values["acked"], values["acked_end"]) == (Acked.STOPPED.value, NOW)


def test_a_lost_session_forgets_what_passport_held() -> None:
    found, values = refused(EventType.EXTENDED, problem("session_not_found"), NOW)
    assert found is Verdict.RESEND_STARTED
    assert (values["acked"], values["acked_end"], values["unconfirmed_kind"]) == (
        Acked.NONE.value,
        None,
        None,
    )
    assert values["unconfirmed_end"] is None
    assert values["problem"] == problem("session_not_found")
    assert values["last_outcome"] == "session lost by Passport; starting it again"


@pytest.mark.parametrize(
    ("kind", "clears_unconfirmed"), [(EventType.STARTED, True), (EventType.STOPPED, False)]
)
def test_a_parked_right_keeps_the_problem(kind: EventType, clears_unconfirmed: bool) -> None:
    found, values = refused(kind, problem("zone_not_found"), NOW)
    assert found is Verdict.PARK
    assert values["problem"]["type"].endswith("zone_not_found")
    assert values["last_outcome"] == "refused: zone_not_found"
    assert ("unconfirmed_kind" in values) is clears_unconfirmed
    unconfirmed = {"unconfirmed_kind", "unconfirmed_end"}
    if clears_unconfirmed:  # the column pair is cleared, not half of it
        assert {key: values[key] for key in unconfirmed} == dict.fromkeys(unconfirmed)
    else:  # a refused stop leaves an unconfirmed start or extension as it was
        assert not unconfirmed & values.keys()


@pytest.mark.parametrize(
    "answer", [{}, {"title": "no type"}, {"type": ""}, {"type": "io.passportlabs:error:"}]
)
def test_a_refusal_without_a_problem_code_is_recorded_as_unknown(answer: dict[str, Any]) -> None:
    found, values = refused(EventType.STARTED, answer, NOW)
    assert found is Verdict.PARK
    assert values["last_outcome"] == "refused: unknown"
    assert values["problem"] == answer


def test_the_recorded_outcome_is_cut_to_its_column() -> None:
    column_type = rights.c.last_outcome.type
    assert isinstance(column_type, String)
    size = column_type.length
    _, values = refused(EventType.STARTED, problem("x" * 400), NOW)
    assert values["last_outcome"] == ("refused: " + "x" * 400)[:size]


def test_accepted_records_what_passport_holds() -> None:
    assert accepted(EventType.STOPPED, NOW)["acked"] == Acked.STOPPED.value
    assert accepted(EventType.EXTENDED, NOW) == {
        "acked": Acked.OPEN.value,
        "acked_end": NOW,
        "last_outcome": "accepted",
    }
