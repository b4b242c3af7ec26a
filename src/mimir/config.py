"""Settings from the environment (and `.env`), over the profile of the environment, validated
once at start-up.

Where a value comes from, highest first: the process environment, `.env`, the profile
`config/<ENVIRONMENT>.yaml` (development unless ENVIRONMENT says otherwise), the defaults
below. A bad value stops the process with one line that names the variable; secrets are
`SecretStr` and never echoed.
"""

from __future__ import annotations

from enum import StrEnum
from functools import lru_cache
from pathlib import Path

import platformdirs
from pydantic import AliasChoices, Field, SecretStr, ValidationError, field_validator
from pydantic_settings import BaseSettings, PydanticBaseSettingsSource, SettingsConfigDict

from mimir.config_profiles import ProfileError, ProfileSource
from mimir.passwords import EXAMPLE_PASSWORD, MIN_PASSWORD_LENGTH, password_weakness

__all__ = ["EXAMPLE_PASSWORD", "MIN_PASSWORD_LENGTH", "ConfigError", "Environment", "Settings",
           "get_settings", "load_settings"]


class Environment(StrEnum):
    DEVELOPMENT = "development"
    PRODUCTION = "production"


class LogLevel(StrEnum):
    DEBUG = "DEBUG"
    INFO = "INFO"
    WARNING = "WARNING"
    ERROR = "ERROR"
    CRITICAL = "CRITICAL"


def default_data_dir() -> Path:
    """The per-user data directory that holds the embedded PostgreSQL cluster."""
    return Path(platformdirs.user_data_dir("mimir", appauthor=False))


class LogFormat(StrEnum):
    PRETTY = "pretty"  # indented JSON, one field a line: for a person at a terminal
    JSON = "json"  # one compact JSON object a line: for log collectors


class EmbeddingProviderName(StrEnum):
    LOCAL = "local"
    OPENAI = "openai"
    NONE = "none"


class WorkerMode(StrEnum):
    INPROCESS = "inprocess"
    OFF = "off"


class RateLimitStore(StrEnum):
    PROCESS = "process"  # a bucket per caller in each API process
    POSTGRES = "postgres"  # one bucket per caller for every process (migration 0013)


class Settings(BaseSettings):
    """Everything Mímir reads from its environment."""

    model_config = SettingsConfigDict(
        env_file=".env", env_file_encoding="utf-8", extra="ignore", case_sensitive=False
    )

    database_url: SecretStr | None = Field(
        default=None,
        validation_alias=AliasChoices("DATABASE_URL"),
        description="PostgreSQL URL; unset means the embedded server.",
    )
    postgres_password: SecretStr | None = Field(
        default=None, validation_alias=AliasChoices("POSTGRES_PASSWORD")
    )
    database_replica_urls: SecretStr | None = Field(
        default=None,
        validation_alias=AliasChoices("MIMIR_DATABASE_REPLICA_URLS"),
        description="Comma-separated URLs of streaming replicas of DATABASE_URL's server "
        "(same database); reads that may be slightly stale go to them (mimir.db.replicas).",
    )
    replica_max_lag_s: float = Field(
        default=5.0, gt=0, le=3600, validation_alias=AliasChoices("MIMIR_REPLICA_MAX_LAG_S"),
        description="A replica whose data may be older than this many seconds is skipped; "
        "also how long a process routes a key's reads to the primary after its write.",
    )
    log_level: LogLevel = Field(default=LogLevel.INFO, validation_alias=AliasChoices("LOG_LEVEL"))
    log_format: LogFormat = Field(
        default=LogFormat.JSON, validation_alias=AliasChoices("MIMIR_LOG_FORMAT"),
        description="pretty (indented JSON) or json (compact, one object a line).")
    environment: Environment = Field(
        default=Environment.DEVELOPMENT, validation_alias=AliasChoices("ENVIRONMENT")
    )
    host: str = Field(default="127.0.0.1", validation_alias=AliasChoices("MIMIR_HOST"))
    port: int = Field(default=38000, ge=1, le=65535, validation_alias=AliasChoices("MIMIR_PORT"))
    data_dir: Path = Field(
        default_factory=default_data_dir, validation_alias=AliasChoices("MIMIR_DATA_DIR")
    )
    db_connect_timeout_s: float = Field(
        default=30.0, gt=0, le=600, validation_alias=AliasChoices("MIMIR_DB_CONNECT_TIMEOUT")
    )
    # Run queries as the role row-level security applies to (migration 0012). Off only to
    # measure the cost of RLS: every namespace is then visible to every key.
    db_app_role: bool = Field(default=True, validation_alias=AliasChoices("MIMIR_DB_APP_ROLE"))
    # Citus (docs/scaling.md): every pooled checkout runs in one transaction that starts with
    # SET LOCAL mimir.namespace, the only form Citus passes on to the workers. auto: when the
    # database has the citus extension (looked up once per pool).
    db_citus: str = Field(default="auto", pattern="^(auto|on|off)$",
                          validation_alias=AliasChoices("MIMIR_DB_CITUS"))
    db_pool_min_size: int = Field(default=2, ge=1, le=100, validation_alias=AliasChoices("MIMIR_DB_POOL_MIN"))
    db_pool_max_size: int = Field(default=10, ge=1, le=200, validation_alias=AliasChoices("MIMIR_DB_POOL_MAX"))
    db_acquire_timeout_s: float = Field(
        default=5.0, gt=0, le=120, validation_alias=AliasChoices("MIMIR_DB_ACQUIRE_TIMEOUT")
    )
    db_unavailable_timeout_s: float = Field(
        default=1.0, gt=0, le=120, validation_alias=AliasChoices("MIMIR_DB_UNAVAILABLE_TIMEOUT"),
        description="Seconds a request waits for a connection while the database is known to "
        "be unreachable (its latest connection attempt failed) before a 503.",
    )
    page_max_limit: int = Field(default=200, ge=1, le=1000, validation_alias=AliasChoices("MIMIR_PAGE_MAX_LIMIT"))
    max_content_chars: int = Field(
        default=2_000_000, ge=1, le=100_000_000, validation_alias=AliasChoices("MIMIR_MAX_CONTENT_CHARS")
    )
    max_body_bytes: int = Field(
        default=16 * 1024 * 1024, ge=1024, validation_alias=AliasChoices("MIMIR_MAX_BODY_BYTES")
    )
    graphql_max_depth: int = Field(default=10, ge=2, le=50, validation_alias=AliasChoices("MIMIR_GRAPHQL_MAX_DEPTH"))
    graphql_max_aliases: int = Field(default=30, ge=1, le=1000, validation_alias=AliasChoices("MIMIR_GRAPHQL_MAX_ALIASES"))
    graphql_max_tokens: int = Field(default=2000, ge=100, le=100_000, validation_alias=AliasChoices("MIMIR_GRAPHQL_MAX_TOKENS"))
    graphql_max_cost: int = Field(
        default=50_000_000, ge=1000, validation_alias=AliasChoices("MIMIR_GRAPHQL_MAX_COST"),
        description="Largest estimated response (rows x bytes) a GraphQL operation may ask for.")
    graphql_max_response_bytes: int = Field(
        default=32 * 1024 * 1024, ge=1024,
        validation_alias=AliasChoices("MIMIR_GRAPHQL_MAX_RESPONSE_BYTES"))
    graphql_statement_timeout_s: float = Field(
        default=10.0, gt=0, le=3600, validation_alias=AliasChoices("MIMIR_GRAPHQL_STATEMENT_TIMEOUT"))
    db_statement_timeout_s: float = Field(
        default=30.0, ge=0, le=86400, validation_alias=AliasChoices("MIMIR_DB_STATEMENT_TIMEOUT"),
        description="statement_timeout of every pooled connection; 0 means none.")
    db_work_mem: str = Field(
        default="16MB", pattern=r"^[1-9][0-9]{0,6}(kB|MB|GB)$",
        validation_alias=AliasChoices("MIMIR_DB_WORK_MEM"),
        description="PostgreSQL work_mem of every pooled connection (per sort or hash).")
    graphql_introspection: bool = Field(default=True, validation_alias=AliasChoices("MIMIR_GRAPHQL_INTROSPECTION"))
    # Read-only GraphQL operations answered by one compiled SQL statement (graphql/compiler.py).
    graphql_compiled_reads: bool = Field(default=True, validation_alias=AliasChoices("MIMIR_GRAPHQL_COMPILED_READS"))
    graphiql: bool = Field(default=True, validation_alias=AliasChoices("MIMIR_GRAPHIQL"))
    embedding_provider: EmbeddingProviderName = Field(
        default=EmbeddingProviderName.LOCAL, validation_alias=AliasChoices("MIMIR_EMBEDDING_PROVIDER"))
    embedding_model: str | None = Field(default=None, max_length=200, validation_alias=AliasChoices("MIMIR_EMBEDDING_MODEL"))
    embedding_base_url: str | None = Field(default=None, max_length=500, validation_alias=AliasChoices("MIMIR_EMBEDDING_BASE_URL"))
    embedding_api_key: SecretStr | None = Field(default=None, validation_alias=AliasChoices("MIMIR_EMBEDDING_API_KEY"))
    embedding_dimensions: int | None = Field(default=None, ge=1, le=16000, validation_alias=AliasChoices("MIMIR_EMBEDDING_DIMENSIONS"))
    chunk_min_chars: int = Field(default=600, ge=50, le=20000, validation_alias=AliasChoices("MIMIR_CHUNK_MIN_CHARS"))
    chunk_max_chars: int = Field(default=1200, ge=100, le=40000, validation_alias=AliasChoices("MIMIR_CHUNK_MAX_CHARS"))
    search_language: str = Field(default="english", pattern=r"^[a-z_]{1,63}$", validation_alias=AliasChoices("MIMIR_SEARCH_LANGUAGE"))
    worker: WorkerMode = Field(default=WorkerMode.INPROCESS, validation_alias=AliasChoices("MIMIR_WORKER"))
    worker_concurrency: int = Field(default=2, ge=1, le=64, validation_alias=AliasChoices("MIMIR_WORKER_CONCURRENCY"))
    max_upload_bytes: int = Field(default=512 * 1024 * 1024, ge=1024,
                                  validation_alias=AliasChoices("MIMIR_MAX_UPLOAD_BYTES"))
    # Imports run in a child process with these limits (mimir.transfer.sandbox).
    import_max_memory_bytes: int = Field(default=1024 * 1024 * 1024, ge=128 * 1024 * 1024,
                                         validation_alias=AliasChoices("MIMIR_IMPORT_MAX_MEMORY_BYTES"))
    import_timeout_s: float = Field(default=3600.0, gt=0, le=7 * 24 * 3600,
                                    validation_alias=AliasChoices("MIMIR_IMPORT_TIMEOUT"))
    import_max_depth: int = Field(default=256, ge=8, le=10_000,
                                  validation_alias=AliasChoices("MIMIR_IMPORT_MAX_DEPTH"))
    import_max_value_bytes: int = Field(default=32 * 1024 * 1024, ge=1024,
                                        validation_alias=AliasChoices("MIMIR_IMPORT_MAX_VALUE_BYTES"))
    import_max_json_bytes: int = Field(default=2 * 1024 * 1024 * 1024, ge=1024,
                                       validation_alias=AliasChoices("MIMIR_IMPORT_MAX_JSON_BYTES"))
    import_max_ratio: int = Field(default=100, ge=2, le=100_000,
                                  validation_alias=AliasChoices("MIMIR_IMPORT_MAX_RATIO"))
    import_max_attempts: int = Field(default=3, ge=1, le=100,
                                     validation_alias=AliasChoices("MIMIR_IMPORT_MAX_ATTEMPTS"))
    require_auth: bool = Field(default=False, validation_alias=AliasChoices("MIMIR_REQUIRE_AUTH"))
    allow_no_auth: bool = Field(default=False, validation_alias=AliasChoices("MIMIR_ALLOW_NO_AUTH"))
    rate_limit_per_minute: int = Field(default=6000, ge=0, le=1_000_000,
                                       validation_alias=AliasChoices("MIMIR_RATE_LIMIT_PER_MINUTE"))
    # `mimir serve --workers N` (N > 1) makes it `postgres` unless set (mimir.serving).
    rate_limit_store: RateLimitStore = Field(
        default=RateLimitStore.PROCESS, validation_alias=AliasChoices("MIMIR_RATE_LIMIT_STORE"))
    workers: int = Field(default=1, ge=1, le=64, validation_alias=AliasChoices("MIMIR_WORKERS"),
                         description="API processes `mimir serve` runs on its port.")
    http_header_timeout_s: float = Field(
        default=10.0, gt=0, le=3600, validation_alias=AliasChoices("MIMIR_HTTP_HEADER_TIMEOUT"),
        description="Seconds a connection may take to send a request's headers (from "
        "connecting, or from the previous response) before it is closed.")
    http_body_timeout_s: float = Field(
        default=15.0, gt=0, le=3600, validation_alias=AliasChoices("MIMIR_HTTP_BODY_TIMEOUT"),
        description="Seconds a request body may pause between two pieces before a 408.")
    http_body_deadline_s: float = Field(
        default=60.0, gt=0, le=86400, validation_alias=AliasChoices("MIMIR_HTTP_BODY_DEADLINE"),
        description="Seconds a whole request body may take to arrive before a 408.")
    http_upload_deadline_s: float = Field(
        default=900.0, gt=0, le=86400, validation_alias=AliasChoices("MIMIR_HTTP_UPLOAD_DEADLINE"),
        description="As MIMIR_HTTP_BODY_DEADLINE, for uploads (POST /api/v1/imports).")
    auto_migrate: bool = Field(default=True, validation_alias=AliasChoices("MIMIR_AUTO_MIGRATE"))

    @field_validator("postgres_password")
    @classmethod
    def _password_is_strong(cls, value: SecretStr | None) -> SecretStr | None:
        if value is None:
            return value
        weakness = password_weakness(value.get_secret_value())
        if weakness:
            raise ValueError(weakness)
        return value

    @classmethod
    def settings_customise_sources(
        cls,
        settings_cls: type[BaseSettings],
        init_settings: PydanticBaseSettingsSource,
        env_settings: PydanticBaseSettingsSource,
        dotenv_settings: PydanticBaseSettingsSource,
        file_secret_settings: PydanticBaseSettingsSource,
    ) -> tuple[PydanticBaseSettingsSource, ...]:
        # The profile last: everything set anywhere else overrides it.
        return (init_settings, env_settings, dotenv_settings, file_secret_settings,
                ProfileSource(settings_cls))

    @field_validator("database_url")
    @classmethod
    def _url_is_postgres(cls, value: SecretStr | None) -> SecretStr | None:
        if value is None or not value.get_secret_value().strip():
            return None
        url = value.get_secret_value()
        if not url.startswith(("postgresql://", "postgres://")):
            raise ValueError("must start with postgresql:// or postgres://")
        return value

    @field_validator("database_replica_urls")
    @classmethod
    def _replica_urls_are_postgres(cls, value: SecretStr | None) -> SecretStr | None:
        if value is None or not value.get_secret_value().strip():
            return None
        for url in value.get_secret_value().split(","):
            if not url.strip().startswith(("postgresql://", "postgres://")):
                raise ValueError("each URL must start with postgresql:// or postgres://")
        return value

    @property
    def is_embedded(self) -> bool:
        return self.database_url is None

    @property
    def graphql_statement_timeout(self) -> str:
        """The GraphQL read timeout as a PostgreSQL setting value."""
        return f"{round(self.graphql_statement_timeout_s * 1000)}ms"


class ConfigError(Exception):
    """A setting is missing or invalid; the message names it and never shows its value."""


# Field name -> the environment variable a user sets.
_ENV_NAMES = {
    name: (field.validation_alias.choices[0] if isinstance(field.validation_alias, AliasChoices) else name.upper())
    for name, field in Settings.model_fields.items()
}


def load_settings() -> Settings:
    """Read and validate settings, turning pydantic's report into one readable line."""
    try:
        return Settings()
    except ValidationError as exc:
        problems = []
        for error in exc.errors(include_input=False, include_url=False):
            field = str(error["loc"][0]) if error["loc"] else "?"
            env_name = _ENV_NAMES.get(field, field.upper())
            message = error["msg"].removeprefix("Value error, ")
            problems.append(f"{env_name}: {message}")
        raise ConfigError("invalid configuration: " + "; ".join(problems)) from None
    except ProfileError as exc:
        raise ConfigError(f"invalid configuration profile: {exc}") from None


@lru_cache(maxsize=1)
def get_settings() -> Settings:
    """The process-wide settings (tests build their own `Settings` instead)."""
    return load_settings()
