"""Compact JSON encoding shared by every response."""

from __future__ import annotations

import json
from typing import Any

_encoder = json.JSONEncoder(ensure_ascii=False, separators=(",", ":"), allow_nan=False)


def dumps(value: Any) -> bytes:  # noqa: ANN401 - any JSON value
    """Encode ``value`` as compact UTF-8 JSON."""
    return _encoder.encode(value).encode("utf-8")
