"""Logs in both formats: plain tracebacks (no frame locals), the traceback as a JSON string
field, and secrets scrubbed by key and by value wherever they appear."""

from __future__ import annotations

import json
import logging
from collections.abc import Iterator

import httpx
import pytest
import structlog

from permitsync.adapters.passport import PassportClient
from permitsync.log import configure_logging, forget_secrets, register_secret

SECRET = "rotated-client-secret-42"
TOKEN = "tok-very-secret-bearer-99"


@pytest.fixture(autouse=True)
def _no_secrets_left() -> Iterator[None]:
    forget_secrets()
    yield
    forget_secrets()


def fetch_token_that_breaks() -> None:
    """A token fetch that fails unexpectedly inside the transport, with the secret, the form
    body and the bearer token in the frames' local variables."""

    def broken(request: httpx.Request) -> httpx.Response:
        form_body = request.content.decode()
        bearer = f"Bearer {TOKEN}"
        raise RuntimeError(f"unexpected failure with {len(form_body)} bytes and {len(bearer)}")

    with PassportClient(
        base_url="https://passport.test",
        client_id="integrator",
        client_secret=SECRET,
        transport=httpx.MockTransport(broken),
    ) as client:
        client.fetch_token()


@pytest.mark.parametrize("fmt", ["json", "console"])
def test_a_traceback_never_shows_frame_locals_or_secrets(
    fmt: str, capsys: pytest.CaptureFixture[str]
) -> None:
    configure_logging(level="INFO", fmt=fmt)
    register_secret(SECRET)
    register_secret(TOKEN, changing=True)
    log = structlog.get_logger("test")
    try:
        fetch_token_that_breaks()
    except RuntimeError:
        log.exception("token fetch failed", detail=f"header Bearer {TOKEN}", nested={"x": [SECRET]})
    try:
        raise ValueError(f"the message carries {SECRET}")  # noqa: TRY301
    except ValueError:
        logging.getLogger("stdlib").exception("stdlib too")
    err = capsys.readouterr().err
    assert "Traceback (most recent call last)" in err
    assert "fetch_token_that_breaks" in err
    assert "RuntimeError: unexpected failure" in err
    assert SECRET not in err
    assert TOKEN not in err
    assert "client_secret=" not in err  # the form body, a local of the transport's frame
    assert "[redacted]" in err
    if fmt == "json":
        lines = [json.loads(line) for line in err.splitlines() if line.startswith("{")]
        first, second = lines
        assert isinstance(first["exception"], str)
        assert first["exception"].startswith("Traceback")
        assert "exc_info" not in first
        assert "ValueError: the message carries [redacted]" in second["exception"]


def test_short_or_empty_values_are_not_registered(capsys: pytest.CaptureFixture[str]) -> None:
    configure_logging(level="INFO", fmt="json")
    register_secret("")
    register_secret(None)
    register_secret("abc")
    structlog.get_logger("test").info("abc stays", word="abc")
    line = json.loads(capsys.readouterr().err.strip())
    assert (line["event"], line["word"]) == ("abc stays", "abc")
