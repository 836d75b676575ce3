"""Session ids the planner issues (A-4): ``ps-`` and 32 hex digits, within Passport's pattern,
never reused."""

from __future__ import annotations

import re

from permitsync.adapters.passport.wire import SESSION_ID_PATTERN
from permitsync.sync.planner import new_session_id


def test_a_session_id_is_ps_and_32_hex_digits_within_passports_pattern() -> None:
    ids = [new_session_id() for _ in range(200)]
    for session_id in ids:
        assert re.fullmatch(r"ps-[0-9a-f]{32}", session_id)
        assert SESSION_ID_PATTERN.fullmatch(session_id)
    assert len(set(ids)) == len(ids)
