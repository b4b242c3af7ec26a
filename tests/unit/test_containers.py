"""Static checks of the container setup: compose.yaml, Dockerfiles, .dockerignore, .env.example.

No Docker engine is needed. The `docker compose config` tests run only where the
compose CLI plugin is installed (it is client-side and needs no engine).
"""

from __future__ import annotations

import fnmatch
import os
import re
import shlex
import shutil
import subprocess
import tomllib
from pathlib import Path

import pytest
import yaml

ROOT = Path(__file__).resolve().parents[2]
COMPOSE_FILE = ROOT / "compose.yaml"
OVERRIDE_FILE = ROOT / "compose.override.yaml"
BUILD_SCRIPT = ROOT / "docker" / "scripts" / "build-images.sh"
API_DOCKERFILE = ROOT / "docker" / "api" / "Dockerfile"
PG_DOCKERFILE = ROOT / "docker" / "postgres" / "Dockerfile"
PG_INIT_SQL = ROOT / "docker" / "postgres" / "initdb" / "01-extensions.sql"
DOCKERIGNORE = ROOT / ".dockerignore"
ENV_EXAMPLE = ROOT / ".env.example"

EXAMPLE_PASSWORD = "change-me-to-a-long-random-secret"
REQUIRED_PASSWORD = "${POSTGRES_PASSWORD:?"
SECRET_NAME = re.compile(r"PASSWORD|SECRET|TOKEN|KEY", re.IGNORECASE)


# --------------------------------------------------------------------------- helpers


def _compose() -> dict:
    data = yaml.safe_load(COMPOSE_FILE.read_text(encoding="utf-8"))
    assert isinstance(data, dict), "compose.yaml must be a mapping"
    return data


def _service(name: str) -> dict:
    services = _compose().get("services") or {}
    assert name in services, f"compose.yaml has no service {name!r}"
    return services[name]


def _env(service: dict) -> dict[str, str | None]:
    """Service environment as a dict, whichever of the two compose forms it uses."""
    env = service.get("environment") or {}
    if isinstance(env, list):
        out: dict[str, str | None] = {}
        for item in env:
            key, sep, value = str(item).partition("=")
            out[key] = value if sep else None
        return out
    return {str(k): (None if v is None else str(v)) for k, v in env.items()}


def _published(service: dict) -> set[tuple[str, str]]:
    """(host port, container port) pairs published by a service, short or long syntax."""
    pairs: set[tuple[str, str]] = set()
    for port in service.get("ports") or []:
        if isinstance(port, dict):
            pairs.add((str(port.get("published")), str(port.get("target"))))
            continue
        parts = str(port).split("/")[0].split(":")
        if len(parts) >= 2:
            pairs.add((parts[-2], parts[-1]))
    return pairs


def _healthcheck_cmd(service: dict) -> str:
    hc = service.get("healthcheck")
    assert isinstance(hc, dict), "service has no healthcheck"
    assert not hc.get("disable"), "healthcheck is disabled"
    test = hc.get("test")
    assert test, "healthcheck has no test"
    if isinstance(test, list):
        assert test[0] in ("CMD", "CMD-SHELL"), f"unexpected healthcheck form {test[0]!r}"
        return " ".join(str(t) for t in test[1:])
    return str(test)


def _instructions(path: Path) -> list[tuple[str, str]]:
    """Dockerfile instructions as (KEYWORD, arguments), continuations joined, comments dropped."""
    out: list[tuple[str, str]] = []
    buf = ""
    for raw in path.read_text(encoding="utf-8").splitlines():
        line = raw.strip()
        if not buf and (not line or line.startswith("#")):
            continue
        if buf and line.startswith("#"):
            continue  # comment lines inside a continuation are ignored by Docker
        if line.endswith("\\"):
            buf += line[:-1] + " "
            continue
        buf += line
        if buf.strip():
            keyword, _, args = buf.strip().partition(" ")
            out.append((keyword.upper(), args.strip()))
        buf = ""
    if buf.strip():
        keyword, _, args = buf.strip().partition(" ")
        out.append((keyword.upper(), args.strip()))
    return out


def _stages(path: Path) -> list[list[tuple[str, str]]]:
    """Instructions grouped by build stage; each group starts with its FROM."""
    stages: list[list[tuple[str, str]]] = []
    for ins in _instructions(path):
        if ins[0] == "FROM":
            stages.append([ins])
        elif stages:
            stages[-1].append(ins)
    return stages


def _copy_sources(args: str) -> tuple[list[str], str, dict[str, str]]:
    """(sources, destination, flags) of a COPY/ADD argument string (shell or JSON form)."""
    flags: dict[str, str] = {}
    rest = args.strip()
    while rest.startswith("--"):
        flag, _, rest = rest.partition(" ")
        name, _, value = flag[2:].partition("=")
        flags[name] = value
        rest = rest.strip()
    words = yaml.safe_load(rest) if rest.startswith("[") else shlex.split(rest)
    assert isinstance(words, list) and len(words) >= 2, f"malformed COPY/ADD: {args!r}"
    return [str(w) for w in words[:-1]], str(words[-1]), flags


def _env_assignments(keyword: str, args: str) -> list[tuple[str, str | None]]:
    """(name, value) pairs of an ENV or ARG instruction; value None when none is given."""
    words = shlex.split(args)
    if keyword == "ENV" and len(words) >= 2 and "=" not in words[0]:
        return [(words[0], " ".join(words[1:]))]  # legacy `ENV NAME value`
    pairs: list[tuple[str, str | None]] = []
    for word in words:
        name, sep, value = word.partition("=")
        pairs.append((name, value if sep else None))
    return pairs


def _dockerignore_excludes(path: str) -> bool:
    """Whether .dockerignore keeps `path` out of the build context (last match wins)."""
    patterns = []
    for raw in DOCKERIGNORE.read_text(encoding="utf-8").splitlines():
        line = raw.strip()
        if not line or line.startswith("#"):
            continue
        negate = line.startswith("!")
        pattern = line[1:].strip() if negate else line
        pattern = pattern.strip("/").removeprefix("./")
        patterns.append((negate, pattern))

    parts = path.strip("/").split("/")
    candidates = ["/".join(parts[: i + 1]) for i in range(len(parts))]  # path and its parents
    excluded = False
    for negate, pattern in patterns:
        regex = _dockerignore_regex(pattern)
        if any(regex.fullmatch(c) for c in candidates):
            excluded = not negate
    return excluded


def _dockerignore_regex(pattern: str) -> re.Pattern[str]:
    """Docker's ignore-pattern syntax: `**` spans directories, `*` and `?` stay within one."""
    out = ""
    i = 0
    while i < len(pattern):
        if pattern.startswith("**/", i):
            out += "(?:.*/)?"
            i += 3
        elif pattern.startswith("**", i):
            out += ".*"
            i += 2
        elif pattern[i] == "*":
            out += "[^/]*"
            i += 1
        elif pattern[i] == "?":
            out += "[^/]"
            i += 1
        else:
            out += re.escape(pattern[i])
            i += 1
    return re.compile(out)


def _env_example() -> dict[str, str]:
    """Uncommented NAME=value assignments of .env.example."""
    values: dict[str, str] = {}
    for raw in ENV_EXAMPLE.read_text(encoding="utf-8").splitlines():
        line = raw.strip()
        if not line or line.startswith("#"):
            continue
        assert "=" in line, f".env.example line is not NAME=value: {raw!r}"
        name, _, value = line.partition("=")
        name = name.strip().removeprefix("export ").strip()
        values[name] = value.strip().strip("'\"")
    return values


def _compose_cli() -> list[str]:
    docker = shutil.which("docker")
    if docker is None:
        pytest.skip("docker CLI not installed: cannot run `docker compose config`")
    probe = subprocess.run(
        [docker, "compose", "version"], check=False, capture_output=True, text=True, timeout=60
    )
    if probe.returncode != 0:
        pytest.skip(
            "docker compose CLI plugin not installed (`docker compose version` failed): "
            "cannot run `docker compose config`"
        )
    return [docker, "compose"]


def _run_compose_config(tmp_path: Path, password: str | None,
                        files: tuple[Path, ...] = (COMPOSE_FILE,)) -> subprocess.CompletedProcess:
    cli = _compose_cli()
    env = {
        k: v
        for k, v in os.environ.items()
        if not k.startswith("COMPOSE_") and k not in ("POSTGRES_PASSWORD", "ENVIRONMENT")
    }
    if password is not None:
        env["POSTGRES_PASSWORD"] = password
    empty_env_file = tmp_path / "empty.env"  # so a developer's own .env cannot interfere
    empty_env_file.write_text("", encoding="utf-8")
    return subprocess.run(
        [
            *cli,
            "--project-directory",
            str(ROOT),
            *[arg for path in files for arg in ("-f", str(path))],
            "--env-file",
            str(empty_env_file),
            "config",
            "--quiet",
        ],
        check=False,
        capture_output=True,
        text=True,
        env=env,
        cwd=ROOT,
        timeout=120,
    )


# --------------------------------------------------------------------------- compose.yaml


def test_compose_publishes_postgres_on_35432():
    """compose publishes PostgreSQL's 5432 on host port 35432."""
    assert ("35432", "5432") in _published(_service("postgres"))


def test_compose_publishes_api_on_38000():
    """compose publishes the API's 8000 on host port 38000."""
    assert ("38000", "8000") in _published(_service("api"))


def test_compose_postgres_healthcheck_uses_pg_isready():
    """postgres service has a pg_isready healthcheck for the mimir user and database."""
    cmd = _healthcheck_cmd(_service("postgres"))
    assert "pg_isready" in cmd
    assert re.search(r"-U\s+mimir\b", cmd), cmd
    assert re.search(r"-d\s+mimir\b", cmd), cmd


def test_compose_api_healthcheck_hits_health_endpoint():
    """api service has a healthcheck that requests /health on port 8000."""
    cmd = _healthcheck_cmd(_service("api"))
    assert "urllib" in cmd
    assert "http://127.0.0.1:8000/health" in cmd


def test_compose_postgres_builds_from_docker_postgres():
    """postgres service builds docker/postgres and sets the mimir user and database."""
    svc = _service("postgres")
    build = svc.get("build")
    context = build.get("context") if isinstance(build, dict) else build
    assert Path(str(context)).as_posix().strip("./") == "docker/postgres"
    env = _env(svc)
    assert env.get("POSTGRES_USER") == "mimir"
    assert env.get("POSTGRES_DB") == "mimir"


def test_compose_api_builds_from_repo_root_with_api_dockerfile():
    """api service builds the repository root with docker/api/Dockerfile."""
    build = _service("api").get("build")
    assert isinstance(build, dict)
    assert str(build.get("context")).rstrip("/") in (".", "./")
    assert Path(str(build.get("dockerfile"))).as_posix() == "docker/api/Dockerfile"


def test_compose_named_volume_declared_and_mounted_by_postgres():
    """pgdata is a top-level named volume mounted at /var/lib/postgresql (PG 18 layout)."""
    volumes = _compose().get("volumes")
    assert isinstance(volumes, dict) and "pgdata" in volumes
    mounts = []
    for vol in _service("postgres").get("volumes") or []:
        if isinstance(vol, dict):
            mounts.append((str(vol.get("source")), str(vol.get("target")).rstrip("/")))
        else:
            source, _, rest = str(vol).partition(":")
            mounts.append((source, rest.split(":")[0].rstrip("/")))
    assert ("pgdata", "/var/lib/postgresql") in mounts, mounts


def test_compose_postgres_password_is_required_everywhere():
    """Every service that sets POSTGRES_PASSWORD takes it from ${POSTGRES_PASSWORD:?...}."""
    services = _compose().get("services") or {}
    users = {name: _env(svc) for name, svc in services.items() if "POSTGRES_PASSWORD" in _env(svc)}
    assert {"postgres", "api"} <= set(users), sorted(users)
    for name, env in users.items():
        value = env["POSTGRES_PASSWORD"] or ""
        assert value.startswith(REQUIRED_PASSWORD) and value.endswith("}"), (name, value)


def test_compose_has_no_literal_password():
    """No secret-named variable and no URL in compose carries a literal value."""
    services = _compose().get("services") or {}
    for name, svc in services.items():
        for key, value in _env(svc).items():
            if SECRET_NAME.search(key) and value is not None:
                assert value.startswith("${") and value.endswith("}"), (name, key, value)
                assert ":-" not in value, f"{name}.{key} has a default value: {value}"
            if value and "://" in value:
                assert not re.search(r"://[^/@\s]*:[^/@\s]*@", value), (
                    f"{name}.{key} embeds a password in a URL"
                )
    text = COMPOSE_FILE.read_text(encoding="utf-8")
    assert EXAMPLE_PASSWORD not in text


def test_compose_names_the_images():
    """compose tags what it builds as the plan's mimir-postgres:latest and mimir-api:latest."""
    assert _service("postgres").get("image") == "mimir-postgres:latest"
    assert _service("api").get("image") == "mimir-api:latest"


def test_compose_api_waits_for_healthy_postgres():
    """api depends_on postgres with condition service_healthy."""
    depends = _service("api").get("depends_on")
    assert isinstance(depends, dict), "depends_on must use the long form with a condition"
    assert (depends.get("postgres") or {}).get("condition") == "service_healthy"


def test_compose_api_environment():
    """api gets a password-less DATABASE_URL to the postgres service and sane defaults."""
    env = _env(_service("api"))
    assert env.get("DATABASE_URL") == "postgresql://mimir@postgres:5432/mimir"
    assert env.get("ENVIRONMENT") == "${ENVIRONMENT:-production}"
    assert env.get("LOG_LEVEL") == "${LOG_LEVEL:-INFO}"
    assert _service("api").get("restart") == "unless-stopped"


# --------------------------------------------------------------------------- api Dockerfile


def test_api_dockerfile_is_multi_stage():
    """api Dockerfile has at least two FROM stages, each on the plan's python:3.13-slim."""
    stages = _stages(API_DOCKERFILE)
    assert len(stages) >= 2
    for stage in stages:
        image = next(w for w in shlex.split(stage[0][1]) if not w.startswith("--"))
        assert image.startswith("python:3.13-slim"), image


def test_project_supports_the_image_python():
    """pyproject's requires-python admits the image's Python 3.13."""
    from packaging.specifiers import SpecifierSet

    project = tomllib.loads((ROOT / "pyproject.toml").read_text(encoding="utf-8"))["project"]
    assert SpecifierSet(project["requires-python"]).contains("3.13.0")


def test_api_dockerfile_copies_the_configuration_profiles():
    """The runtime stage copies config/ (the ENVIRONMENT profiles) to /app/config."""
    final = _stages(API_DOCKERFILE)[-1]
    copies = [_copy_sources(args) for kw, args in final if kw == "COPY"]
    assert any(sources == ["config/"] and dest.rstrip("/") == "/app/config"
               for sources, dest, flags in copies if "from" not in flags), copies


def test_api_dockerfile_runs_as_non_root():
    """The final stage of the api image switches to a non-root USER."""
    final = _stages(API_DOCKERFILE)[-1]
    users = [args for kw, args in final if kw == "USER"]
    assert users, "final stage sets no USER"
    user = users[-1].split(":")[0].strip()
    assert user not in ("root", "0", ""), user
    assert any(kw == "RUN" and "useradd" in args and "10001" in args for kw, args in final), (
        "non-root user is not created with the fixed uid 10001"
    )


def test_api_dockerfile_never_copies_env_file():
    """No COPY/ADD in the api Dockerfile takes a .env file from the build context."""
    copies = [(kw, args) for kw, args in _instructions(API_DOCKERFILE) if kw in ("COPY", "ADD")]
    assert copies
    for kw, args in copies:
        sources, _, flags = _copy_sources(args)
        if "from" in flags:
            continue  # from another stage, not from the build context
        for src in sources:
            name = src.rstrip("/").split("/")[-1]
            matches_env = fnmatch.fnmatch(".env", name) or fnmatch.fnmatch(".env.local", name)
            assert not matches_env, f"{kw} {args} can copy a .env file"


def test_api_dockerfile_has_no_secret_env_or_arg():
    """No ENV or ARG in either Dockerfile names a password/secret/token/key with a value."""
    for dockerfile in (API_DOCKERFILE, PG_DOCKERFILE):
        for kw, args in _instructions(dockerfile):
            if kw not in ("ENV", "ARG"):
                continue
            for name, value in _env_assignments(kw, args):
                if SECRET_NAME.search(name):
                    assert value is None, f"{dockerfile.name}: {kw} {name} has a value"


def test_api_dockerfile_runtime_setup():
    """The runtime stage has the venv on PATH, exposes 8000, healthchecks and runs mimir serve."""
    final = _stages(API_DOCKERFILE)[-1]
    env_pairs = dict(
        pair for kw, args in final if kw == "ENV" for pair in _env_assignments(kw, args)
    )
    assert (env_pairs.get("PATH") or "").startswith("/app/.venv/bin:")
    assert env_pairs.get("PYTHONUNBUFFERED") == "1"
    assert any(kw == "EXPOSE" and "8000" in args.split() for kw, args in final)
    healthchecks = [args for kw, args in final if kw == "HEALTHCHECK"]
    assert healthchecks and "http://127.0.0.1:8000/health" in healthchecks[-1]
    cmds = [args for kw, args in final if kw == "CMD"]
    assert cmds and yaml.safe_load(cmds[-1]) == [
        "mimir",
        "serve",
        "--host",
        "0.0.0.0",
        "--port",
        "8000",
    ]
    copied_from_builder = {
        _copy_sources(args)[0][0].rstrip("/")
        for kw, args in final
        if kw == "COPY" and "from" in _copy_sources(args)[2]
    }
    assert {"/app/.venv", "/app/src"} <= copied_from_builder


def test_api_dockerfile_builder_installs_main_deps_in_project_venv():
    """The builder stage installs only main dependencies with an in-project venv in /app."""
    builder = _stages(API_DOCKERFILE)[0]
    assert ("WORKDIR", "/app") in builder
    runs = " ".join(args for kw, args in builder if kw == "RUN")
    assert "virtualenvs.in-project true" in runs
    assert re.search(r"poetry install\b[^&;]*--only main", runs)


# --------------------------------------------------------------------------- postgres image


def test_postgres_dockerfile_uses_postgres_18_with_pgvector():
    """postgres Dockerfile is FROM postgres:18* and apt-installs postgresql-18-pgvector."""
    stages = _stages(PG_DOCKERFILE)
    assert stages, "no FROM in docker/postgres/Dockerfile"
    image = next(w for w in shlex.split(stages[-1][0][1]) if not w.startswith("--"))
    assert re.fullmatch(r"postgres:18(?:[.-][\w.-]+)?(?:@sha256:[0-9a-f]{64})?", image), image
    runs = [args for kw, args in stages[-1] if kw == "RUN"]
    assert any(re.search(r"apt-get install\b.*\bpostgresql-18-pgvector\b", r) for r in runs), runs
    assert any("rm -rf /var/lib/apt/lists" in r for r in runs), "apt lists are not cleaned"


def test_postgres_init_script_creates_vector_and_is_installed():
    """The init script creates the vector extension and is copied into docker-entrypoint-initdb.d."""
    sql = re.sub(r"--[^\n]*", "", PG_INIT_SQL.read_text(encoding="utf-8"))
    assert re.search(
        r"CREATE\s+EXTENSION\s+IF\s+NOT\s+EXISTS\s+\"?vector\"?\s*;", sql, re.IGNORECASE
    )
    copies = [args for kw, args in _instructions(PG_DOCKERFILE) if kw in ("COPY", "ADD")]
    installed = False
    for args in copies:
        sources, dest, _ = _copy_sources(args)
        if any(s.endswith("initdb/01-extensions.sql") for s in sources) and dest.startswith(
            "/docker-entrypoint-initdb.d"
        ):
            installed = True
    assert installed, copies


# --------------------------------------------------------------------------- .dockerignore


@pytest.mark.parametrize(
    "path",
    [
        ".env",
        ".env.local",
        ".env.production",
        ".git",
        ".git/config",
        ".venv",
        ".venv/bin/python",
        "src/mimir/__pycache__",
        "src/mimir/x.pyc",
        ".pytest_cache",
        ".ruff_cache",
        ".ci",
        "node_modules",
        "local.env",
        "docker/secrets.env",
        "server.log",
        "logs/api.log",
        "postgres_data",
        "postgres_data/base/1",
        ".mypy_cache",
    ],
)
def test_dockerignore_excludes(path):
    """.dockerignore keeps secrets, VCS data, venvs and caches out of the build context."""
    assert _dockerignore_excludes(path), path


@pytest.mark.parametrize(
    "path",
    [
        ".env.example",
        "pyproject.toml",
        "poetry.lock",
        "README.md",
        "src/mimir/cli.py",
        "sql/queries.sql",
        "migrations/env.py",
        "alembic.ini",
        "config/production.yaml",
    ],
)
def test_dockerignore_keeps(path):
    """.dockerignore keeps .env.example and everything the api image copies."""
    assert not _dockerignore_excludes(path), path


PLAN_DOCKERIGNORE = [".env", ".env.*", "*.env", "**/.env", ".git", ".gitignore", "__pycache__",
                     "*.pyc", ".pytest_cache", ".mypy_cache", "*.log", "postgres_data/"]


def test_dockerignore_lists_every_entry_of_the_plan():
    """Each line of the plan's required .dockerignore is present as written."""
    lines = {line.strip() for line in DOCKERIGNORE.read_text(encoding="utf-8").splitlines()}
    assert [entry for entry in PLAN_DOCKERIGNORE if entry not in lines] == []


# --------------------------------------------------------------------------- dev override


def _override() -> dict:
    data = yaml.safe_load(OVERRIDE_FILE.read_text(encoding="utf-8"))
    assert isinstance(data, dict)
    return data


def test_override_has_the_name_compose_loads_with_compose_yaml():
    """compose reads compose.override.yaml along with compose.yaml; a docker-compose.* file
    next to them would not be paired (and would be a second, conflicting project file)."""
    assert OVERRIDE_FILE.is_file()
    strays = [p.name for p in ROOT.glob("docker-compose*.y*ml")]
    assert strays == []


def test_override_hot_reloads_the_mounted_source():
    """The dev override mounts ./src over the image's /app/src and runs uvicorn mimir.main:app
    with --reload watching it, in the development profile."""
    api = _override()["services"]["api"]
    command = api["command"]
    assert command[:2] == ["uvicorn", "mimir.main:app"] and "--reload" in command
    assert command[command.index("--reload-dir") + 1] == "/app/src"
    assert command[command.index("--port") + 1] == "8000"
    mounts = [str(v).split(":")[:2] for v in api["volumes"]]
    assert ["./src", "/app/src"] in mounts and ["./config", "/app/config"] in mounts
    assert _env(api).get("ENVIRONMENT") == "${ENVIRONMENT:-development}"


def test_override_adds_no_secret_and_no_service():
    """The override only changes the api service and carries no secret value."""
    services = _override()["services"]
    assert set(services) == {"api"}
    for key, value in _env(services["api"]).items():
        assert not SECRET_NAME.search(key), key
        assert "://" not in (value or ""), key


# --------------------------------------------------------------------------- BuildX script


def _build_script(*args: str, builder: str | None, tmp_path: Path) -> subprocess.CompletedProcess:
    env = {k: v for k, v in os.environ.items() if k not in ("DOCKER_BUILDX_BUILDER", "PLATFORMS",
                                                              "OUTPUT", "TAG")}
    if builder is not None:
        env["DOCKER_BUILDX_BUILDER"] = builder
    return subprocess.run(["bash", str(BUILD_SCRIPT), *args], env=env, cwd=tmp_path,
                          capture_output=True, text=True, timeout=60, check=False)


def test_build_script_is_valid_bash():
    """The BuildX script parses (`bash -n`) and, where shellcheck exists, is clean."""
    assert subprocess.run(["bash", "-n", str(BUILD_SCRIPT)], check=False).returncode == 0
    if shutil.which("shellcheck"):
        result = subprocess.run(["shellcheck", str(BUILD_SCRIPT)], capture_output=True,
                                text=True, check=False)
        assert result.returncode == 0, result.stdout


def test_build_script_builds_both_images_on_the_named_builder(tmp_path):
    """Each image is built with `docker buildx build --builder $DOCKER_BUILDX_BUILDER` for amd64
    and arm64, tagged with the names compose uses, from its own Dockerfile."""
    result = _build_script("--dry-run", builder="cloud-builder-7", tmp_path=tmp_path)
    assert result.returncode == 0, result.stderr
    commands = [shlex.split(line) for line in result.stdout.splitlines() if line.strip()]
    assert commands[0] == ["docker", "buildx", "use", "cloud-builder-7"]
    builds = {}
    for command in commands[1:]:
        assert command[:3] == ["docker", "buildx", "build"]
        assert command[command.index("--builder") + 1] == "cloud-builder-7"
        assert command[command.index("--platform") + 1] == "linux/amd64,linux/arm64"
        builds[command[command.index("-t") + 1]] = command
    assert set(builds) == {"mimir-postgres:latest", "mimir-api:latest"}
    postgres, api = builds["mimir-postgres:latest"], builds["mimir-api:latest"]
    assert postgres[postgres.index("-f") + 1] == str(PG_DOCKERFILE)
    assert api[api.index("-f") + 1] == str(API_DOCKERFILE) and api[-1] == str(ROOT)
    assert not [word for command in commands for word in command if "PASSWORD" in word]


def test_build_script_refuses_without_a_builder(tmp_path):
    """Without DOCKER_BUILDX_BUILDER the script stops before running anything, naming it."""
    if (ROOT / ".env").exists():
        pytest.skip("a local .env may name the builder")
    result = _build_script("--dry-run", builder=None, tmp_path=tmp_path)
    assert result.returncode != 0
    assert "DOCKER_BUILDX_BUILDER" in result.stderr and result.stdout == ""


# --------------------------------------------------------------------------- .env.example


def test_env_example_has_only_the_known_placeholder_secret():
    """.env.example carries the known example password and no value that looks like a secret."""
    values = _env_example()
    assert values.get("POSTGRES_PASSWORD") == EXAMPLE_PASSWORD
    for name, value in values.items():
        if SECRET_NAME.search(name):
            assert value in ("", EXAMPLE_PASSWORD), f"{name} holds what looks like a real secret"
    for line in ENV_EXAMPLE.read_text(encoding="utf-8").splitlines():
        assert not re.search(r"://[^/@\s]*:[^/@\s]*@", line), f"URL with a password: {line!r}"


def test_env_example_defaults():
    """.env.example sets LOG_LEVEL and ENVIRONMENT and leaves DATABASE_URL and MIMIR_* commented."""
    values = _env_example()
    assert values.get("LOG_LEVEL") == "INFO"
    assert values.get("ENVIRONMENT") == "development"
    for name in ("DATABASE_URL", "MIMIR_HOST", "MIMIR_PORT", "MIMIR_DATA_DIR"):
        assert name not in values, f"{name} must stay commented out"
    text = ENV_EXAMPLE.read_text(encoding="utf-8")
    assert re.search(
        r"^#\s*DATABASE_URL=postgresql://mimir@127\.0\.0\.1:35432/mimir\s*$", text, re.MULTILINE
    )


# --------------------------------------------------------------------------- docker compose config


def test_compose_config_valid_with_password(tmp_path):
    """`docker compose config` accepts compose.yaml when POSTGRES_PASSWORD is set."""
    result = _run_compose_config(tmp_path, "a-test-password-of-sufficient-length")
    assert result.returncode == 0, result.stderr


def test_compose_config_fails_without_password(tmp_path):
    """`docker compose config` refuses compose.yaml when POSTGRES_PASSWORD is unset."""
    result = _run_compose_config(tmp_path, None)
    assert result.returncode != 0, result.stdout
    assert "POSTGRES_PASSWORD" in result.stderr


def test_compose_config_valid_with_the_dev_override(tmp_path):
    """`docker compose config` accepts compose.yaml merged with compose.override.yaml."""
    result = _run_compose_config(tmp_path, "a-test-password-of-sufficient-length",
                                 files=(COMPOSE_FILE, OVERRIDE_FILE))
    assert result.returncode == 0, result.stderr
