#!/usr/bin/env bash
# Build Mímir's images with Docker BuildX on the builder named by DOCKER_BUILDX_BUILDER:
#   mimir-postgres:latest  from docker/postgres/Dockerfile (PostgreSQL 18 + pgvector)
#   mimir-api:latest       from docker/api/Dockerfile (context: the repository root)
#
# Usage: docker/scripts/build-images.sh [--dry-run] [postgres|api ...]   (default: both)
#   DOCKER_BUILDX_BUILDER  the builder (from the environment, else from .env); required
#   PLATFORMS              default linux/amd64,linux/arm64
#   OUTPUT                 default --load; --push to push to a registry instead
#   TAG                    default latest
# --dry-run prints the commands instead of running them (no Docker needed).
# No secret is passed to a build: the images take POSTGRES_PASSWORD at run time only.
set -euo pipefail

root="$(cd "$(dirname "$0")/../.." && pwd)"
dry_run=false
targets=()
for arg in "$@"; do
    case "$arg" in
        --dry-run) dry_run=true ;;
        postgres | api) targets+=("$arg") ;;
        -h | --help) sed -n '2,13p' "$0"; exit 0 ;;
        *) echo "build-images: unknown argument: $arg" >&2; exit 2 ;;
    esac
done
[[ ${#targets[@]} -gt 0 ]] || targets=(postgres api)

# The builder's name may live in .env (never committed); read only that one line.
if [[ -z "${DOCKER_BUILDX_BUILDER:-}" && -f "$root/.env" ]]; then
    DOCKER_BUILDX_BUILDER="$(sed -n 's/^[[:space:]]*DOCKER_BUILDX_BUILDER=//p' "$root/.env" \
        | tail -n 1 | tr -d "\"'[:space:]")"
fi
: "${DOCKER_BUILDX_BUILDER:?set DOCKER_BUILDX_BUILDER (in the environment or .env) to your BuildX builder}"
platforms="${PLATFORMS:-linux/amd64,linux/arm64}"
output="${OUTPUT:---load}"
tag="${TAG:-latest}"
case "$output" in
    --load | --push) ;;
    *) echo "build-images: OUTPUT must be --load or --push" >&2; exit 2 ;;
esac

run() {
    if $dry_run; then
        printf '%q ' "$@"
        printf '\n'
    else
        "$@"
    fi
}

run docker buildx use "$DOCKER_BUILDX_BUILDER"
for target in "${targets[@]}"; do
    case "$target" in
        postgres)
            run docker buildx build --builder "$DOCKER_BUILDX_BUILDER" \
                --platform "$platforms" -t "mimir-postgres:$tag" \
                -f "$root/docker/postgres/Dockerfile" "$output" "$root/docker/postgres"
            ;;
        api)
            run docker buildx build --builder "$DOCKER_BUILDX_BUILDER" \
                --platform "$platforms" -t "mimir-api:$tag" \
                -f "$root/docker/api/Dockerfile" "$output" "$root"
            ;;
    esac
done
