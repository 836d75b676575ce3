"""Settings that would leak a secret are masked or refused."""

from __future__ import annotations

import pytest

from permitsync.config import Settings, SettingsError, load_settings

PASSWORD = "pg-hunter2-password"


def test_repr_and_str_of_settings_mask_the_database_password() -> None:
    settings = Settings(
        database_url=f"postgresql://permitsync:{PASSWORD}@db.internal/permitsync",
        passport_client_secret="a-real-client-secret",
        metrics_token="metrics-token-0123456789",
    )
    for text in (repr(settings), str(settings), f"{settings!r}"):
        assert PASSWORD not in text
        assert "a-real-client-secret" not in text
        assert "metrics-token-0123456789" not in text
        assert "postgresql://permitsync:***@db.internal/permitsync" in text
    assert settings.database_url.endswith(f":{PASSWORD}@db.internal/permitsync")


@pytest.mark.parametrize(
    "url",
    ["http://api.us.passportinc.com", "http://10.0.0.5:8900", "http://passport.local"],
)
def test_a_clear_text_passport_url_is_refused_unless_loopback(url: str) -> None:
    with pytest.raises(SettingsError, match=r"PERMITSYNC_PASSPORT_BASE_URL: .*https://"):
        load_settings(passport_base_url=url)


@pytest.mark.parametrize(
    "url",
    ["http://127.0.0.1:8900", "http://127.8.0.1", "http://localhost:8900", "http://[::1]:8900"],
)
def test_the_simulator_on_loopback_may_use_http(url: str) -> None:
    assert load_settings(passport_base_url=url).passport_base_url == url


def test_a_short_metrics_token_is_refused() -> None:
    with pytest.raises(SettingsError, match=r"PERMITSYNC_METRICS_TOKEN: .*at least 16"):
        load_settings(metrics_token="short")
