#!/usr/bin/env bash
# What the API image installs must start.
#
# Builds a virtual environment from the main dependencies only, exactly as
# docker/api/Dockerfile does (`poetry install --only main` over pyproject.toml and
# poetry.lock, then the project itself), in a scratch copy of the files the image copies.
# Then, with that environment alone:
#   1. imports every module under src/mimir (a dev-only import fails here), and
#   2. boots `mimir serve` on the embedded PostgreSQL and waits for 200 from /health.
#
# Usage: scripts/check_main_deps.sh [REPO_ROOT]   (default: this script's repository)
# Poetry's package cache (~/.cache/pypoetry) is reused between runs, so a warm run
# only unpacks wheels.
set -euo pipefail

root="$(cd "${1:-$(dirname "$0")/..}" && pwd)"
python="${PYTHON:-python3}"
work="$(mktemp -d -t mimir-main-deps-XXXXXX)"
server_pid=""

cleanup() {
    if [[ -n "$server_pid" ]] && kill -0 "$server_pid" 2>/dev/null; then
        kill -TERM "$server_pid" 2>/dev/null || true
        wait "$server_pid" 2>/dev/null || true
    fi
    rm -rf "$work"
}
trap cleanup EXIT

started=$SECONDS
"$python" -m poetry --version >/dev/null 2>&1 || "$python" -m pip install --quiet 'poetry>=2.1,<3'

# The same files the Dockerfile copies, nothing else (no tests, no dev tools).
app="$work/app"
mkdir -p "$app"
cp "$root/pyproject.toml" "$root/poetry.lock" "$root/README.md" "$app/"
cp -R "$root/src" "$root/sql" "$root/migrations" "$app/"
[[ -f "$root/alembic.ini" ]] && cp "$root/alembic.ini" "$app/"
[[ -d "$root/config" ]] && cp -R "$root/config" "$app/"
find "$app/src" -name __pycache__ -prune -exec rm -rf {} +

echo "check-main-deps: installing the main dependencies only (as the image does)"
(
    cd "$app"
    export POETRY_VIRTUALENVS_IN_PROJECT=true POETRY_VIRTUALENVS_CREATE=true \
        POETRY_NO_INTERACTION=1
    unset VIRTUAL_ENV PYTHONPATH
    "$python" -m poetry install --only main --no-interaction --quiet
)
venv_python="$app/.venv/bin/python"
echo "check-main-deps: environment ready after $((SECONDS - started))s"

# 1. Every module imports with the main dependencies alone.
env -u PYTHONPATH "$venv_python" - "$app/src" <<'PY'
import importlib
import pkgutil
import sys
from pathlib import Path

src = Path(sys.argv[1]).resolve()
import mimir

where = Path(mimir.__file__).resolve()
if src not in where.parents:
    sys.exit(f"check-main-deps: mimir imported from {where}, not from {src}")
failed = []
count = 0
for module in pkgutil.walk_packages(mimir.__path__, "mimir."):
    count += 1
    try:
        importlib.import_module(module.name)
    except Exception as exc:  # report every failure, not only the first
        failed.append(f"{module.name}: {type(exc).__name__}: {exc}")
if failed:
    print("check-main-deps: modules that do not import with the main dependencies only:",
          *failed, sep="\n  ", file=sys.stderr)
    sys.exit(1)
print(f"check-main-deps: {count} modules import")
PY

# 2. `mimir serve` starts on the embedded PostgreSQL and answers /health.
port="$("$venv_python" -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1", 0)); print(s.getsockname()[1])')"
log="$work/serve.log"
env -u PYTHONPATH -u DATABASE_URL -u POSTGRES_PASSWORD -u ENVIRONMENT \
    MIMIR_DATA_DIR="$work/data" MIMIR_PORT="$port" MIMIR_HOST=127.0.0.1 \
    MIMIR_WORKER=off LOG_LEVEL=WARNING \
    "$app/.venv/bin/mimir" serve >"$log" 2>&1 &
server_pid=$!
if ! "$venv_python" - "$port" "$server_pid" <<'PY'
import os
import sys
import time
import urllib.request

port, pid = sys.argv[1], int(sys.argv[2])
deadline = time.monotonic() + 120
while time.monotonic() < deadline:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        sys.exit("check-main-deps: mimir serve exited before answering /health")
    try:
        with urllib.request.urlopen(f"http://127.0.0.1:{port}/health", timeout=2) as response:
            if response.status == 200:
                sys.exit(0)
    except OSError:
        pass
    time.sleep(0.3)
sys.exit("check-main-deps: /health did not answer 200 within 120 s")
PY
then
    echo "check-main-deps: mimir serve's output:" >&2
    tail -n 40 "$log" >&2
    exit 1
fi
echo "check-main-deps: mimir serve answered 200 on /health"
kill -TERM "$server_pid"
wait "$server_pid" || true
server_pid=""
echo "check-main-deps: ok in $((SECONDS - started))s"
