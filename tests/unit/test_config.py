"""Settings are validated once; a bad value names its variable and never shows a secret."""

from __future__ import annotations

import pytest

from mimir.config import (
    EXAMPLE_PASSWORD,
    ConfigError,
    Environment,
    LogFormat,
    LogLevel,
    Settings,
    load_settings,
)
from mimir.config_profiles import ProfileError, ProfileSource, read_profile
from mimir.passwords import password_weakness
from mimir.paths import CONFIG_DIR

STRONG = "Vq7#kT2z!Lm9pX4w"


@pytest.fixture(autouse=True)
def clean_env(monkeypatch, tmp_path):
    for name in ("DATABASE_URL", "POSTGRES_PASSWORD", "LOG_LEVEL", "ENVIRONMENT", "MIMIR_PORT",
                 "MIMIR_HOST", "MIMIR_DATA_DIR", "MIMIR_LOG_FORMAT", "MIMIR_GRAPHIQL"):
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
        monkeypatch.setenv("POSTGRES_PASSWORD", STRONG)
        settings = load_settings()
        assert settings.postgres_password.get_secret_value() == STRONG
        assert STRONG not in repr(settings)

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
                            POSTGRES_PASSWORD=STRONG)
        conninfo = resolve_external_conninfo(settings)
        assert conninfo_to_dict(conninfo)["password"] == STRONG
        assert STRONG not in describe(conninfo)
        assert describe(conninfo) == "mimir@db:5432/mimir"


class TestPasswordRule:
    @pytest.mark.parametrize("secret, reason", [
        ("Vq7#kT2z!Lm9pX4", "at least 16"),
        ("vq7#kt2z!lm9px4wq", "upper-case"),
        ("VQ7#KT2Z!LM9PX4WQ", "lower-case"),
        ("Vqx#kTez!Lmvpxrw", "a digit"),
        ("Vq7mkT2zJLm9pX4w", "a symbol"),
        ("Vq7#Password!9pX4w", "common word"),
        ("Vq7#kT2z!Lm9pX4wMIMIR", "common word"),
        ("Vq7#kT2z!Lm9pX4wwww", "repeats one character"),
        ("Vq7#kT2z!Lm9pX4w6789", "sequence"),
        ("Vq7#kT2z!Lm9pX4wQWER", "sequence"),
        ("Vq7#kT2z!Lm9pX4wdcba", "sequence"),
    ])
    def test_weak_passwords_refused_with_the_reason(self, monkeypatch, secret, reason):
        """Each part of the rule (length, four character classes, no common word, run or
        sequence) refuses on its own, naming the variable and the reason, never the value."""
        assert reason in (password_weakness(secret) or "")
        monkeypatch.setenv("POSTGRES_PASSWORD", secret)
        with pytest.raises(ConfigError) as exc:
            load_settings()
        assert "POSTGRES_PASSWORD" in str(exc.value) and reason in str(exc.value)
        assert secret not in str(exc.value)

    @pytest.mark.parametrize("secret", [STRONG, "9DegcIJX/zOM1WbOkWAsBmgBdf7MTlzo22z5KMOb11U="])
    def test_strong_passwords_pass(self, secret):
        """A random mix of all four classes (e.g. `openssl rand -base64 32`) passes."""
        assert password_weakness(secret) is None


class TestProfiles:
    def test_development_profile_is_the_default(self):
        """Without ENVIRONMENT, config/development.yaml applies: pretty logs."""
        settings = load_settings()
        assert settings.environment is Environment.DEVELOPMENT
        assert settings.log_format is LogFormat.PRETTY

    def test_production_profile_chosen_by_environment(self, monkeypatch):
        """ENVIRONMENT=production reads config/production.yaml: compact JSON logs."""
        monkeypatch.setenv("ENVIRONMENT", "production")
        assert load_settings().log_format is LogFormat.JSON

    def test_environment_overrides_the_profile(self, monkeypatch, tmp_path):
        """A variable in the environment, or in .env, wins over the profile's value."""
        monkeypatch.setenv("ENVIRONMENT", "production")
        monkeypatch.setenv("MIMIR_LOG_FORMAT", "pretty")
        (tmp_path / ".env").write_text("LOG_LEVEL=DEBUG\n", encoding="utf-8")
        settings = load_settings()
        assert settings.log_format is LogFormat.PRETTY
        assert settings.log_level is LogLevel.DEBUG

    def test_environment_from_init_arguments_picks_the_profile(self):
        """ENVIRONMENT given to Settings(...) directly picks that profile too."""
        settings = Settings(_env_file=None, ENVIRONMENT="production")
        assert settings.log_format is LogFormat.JSON

    def test_profiles_hold_only_known_names_and_no_secret(self):
        """Both shipped profiles read cleanly: every key is a setting, none is a secret."""
        known = ProfileSource(Settings).known
        for name in ("development", "production"):
            values = read_profile(CONFIG_DIR / f"{name}.yaml", known)
            assert values and "MIMIR_LOG_FORMAT" in values

    @pytest.mark.parametrize("text, reason", [
        ("LOG_LEVL: INFO\n", "unknown setting LOG_LEVL"),
        ("POSTGRES_PASSWORD: Vq7#kT2z!Lm9pX4w\n", "is a secret"),
        ("- LOG_LEVEL\n", "must be a mapping"),
    ])
    def test_bad_profile_refused(self, tmp_path, text, reason):
        """A typo, a secret or a non-mapping in a profile is refused, naming the file."""
        path = tmp_path / "development.yaml"
        path.write_text(text, encoding="utf-8")
        with pytest.raises(ProfileError) as exc:
            read_profile(path, ProfileSource(Settings).known)
        assert reason in str(exc.value) and "development.yaml" in str(exc.value)
        assert "Vq7#" not in str(exc.value)

    def test_profile_keys_are_case_insensitive(self, tmp_path):
        """`log_level` in a profile is LOG_LEVEL."""
        path = tmp_path / "p.yaml"
        path.write_text("log_level: WARNING\n", encoding="utf-8")
        assert read_profile(path, ProfileSource(Settings).known) == {"LOG_LEVEL": "WARNING"}
