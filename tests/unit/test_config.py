"""Settings are validated once; a bad value names its variable and never shows a secret."""

from __future__ import annotations

import pytest

from mimir.config import EXAMPLE_PASSWORD, ConfigError, Environment, Settings, load_settings


@pytest.fixture(autouse=True)
def clean_env(monkeypatch, tmp_path):
    for name in ("DATABASE_URL", "POSTGRES_PASSWORD", "LOG_LEVEL", "ENVIRONMENT", "MIMIR_PORT",
                 "MIMIR_HOST", "MIMIR_DATA_DIR"):
        monkeypatch.delenv(name, raising=False)
    monkeypatch.chdir(tmp_path)  # no stray .env file


class TestSettings:
    def test_defaults(self):
        """With nothing set: embedded database, development, loopback port 38000."""
        settings = load_settings()
        assert settings.is_embedded
        assert settings.environment is Environment.DEVELOPMENT
        assert (settings.host, settings.port) == ("127.0.0.1", 38000)

    def test_reads_environment(self, monkeypatch):
        """Variables from the environment are used."""
        monkeypatch.setenv("DATABASE_URL", "postgresql://mimir@db:5432/mimir")
        monkeypatch.setenv("ENVIRONMENT", "production")
        monkeypatch.setenv("MIMIR_PORT", "8123")
        settings = load_settings()
        assert not settings.is_embedded
        assert settings.environment is Environment.PRODUCTION
        assert settings.port == 8123

    @pytest.mark.parametrize(
        "secret, reason",
        [("short-secret", "at least 16"), (EXAMPLE_PASSWORD, "example value")],
    )
    def test_weak_password_rejected_without_echo(self, monkeypatch, secret, reason):
        """POSTGRES_PASSWORD shorter than 16 characters, or the example value, is refused; the
        message names the variable and does not contain the password."""
        monkeypatch.setenv("POSTGRES_PASSWORD", secret)
        with pytest.raises(ConfigError) as exc:
            load_settings()
        message = str(exc.value)
        assert "POSTGRES_PASSWORD" in message
        assert reason in message
        assert secret not in message
        assert "\n" not in message

    def test_strong_password_accepted_and_hidden(self, monkeypatch):
        """A strong password is accepted and never shows in the settings' repr."""
        monkeypatch.setenv("POSTGRES_PASSWORD", "a-really-long-local-secret-42")
        settings = load_settings()
        assert "a-really-long-local-secret-42" not in repr(settings)

    @pytest.mark.parametrize(
        "name, value",
        [("LOG_LEVEL", "LOUD"), ("ENVIRONMENT", "staging"), ("MIMIR_PORT", "70000"),
         ("DATABASE_URL", "mysql://root:hunter2hunter2@x/db")],
    )
    def test_bad_values_name_the_variable(self, monkeypatch, name, value):
        """Each invalid value is reported by its environment variable's name, in one line."""
        monkeypatch.setenv(name, value)
        with pytest.raises(ConfigError) as exc:
            load_settings()
        assert name in str(exc.value)
        assert "hunter2" not in str(exc.value)

    def test_password_injected_into_url_without_one(self, monkeypatch):
        """DATABASE_URL without a password takes POSTGRES_PASSWORD, so the URL holds no secret."""
        from psycopg.conninfo import conninfo_to_dict

        from mimir.db.connection import describe, resolve_external_conninfo

        settings = Settings(_env_file=None, DATABASE_URL="postgresql://mimir@db:5432/mimir",
                            POSTGRES_PASSWORD="another-long-secret-value")
        conninfo = resolve_external_conninfo(settings)
        assert conninfo_to_dict(conninfo)["password"] == "another-long-secret-value"
        assert "another-long-secret-value" not in describe(conninfo)
        assert describe(conninfo) == "mimir@db:5432/mimir"
