#!/usr/bin/env bash
# PostgreSQL for CI and local tests, using Debian's packaged server and its cluster tools.
#
#   deploy/postgres/postgres.sh install   # apt-get install postgresql if missing (idempotent)
#   deploy/postgres/postgres.sh start     # start the cluster on 127.0.0.1:${PGPORT:-5432},
#                                         # create role xinfang (password xinfang, CREATEDB) and
#                                         # the service databases, wait for pg_isready
#   deploy/postgres/postgres.sh stop
#   deploy/postgres/postgres.sh status
#   deploy/postgres/postgres.sh env       # export lines for the tests' DSNs
#
# Several subcommands may be given at once: `postgres.sh install start env`.
# Must run as root (or as postgres for start/stop); admin SQL runs as the postgres OS user.
set -euo pipefail

PG_PORT="${PGPORT:-5432}"
PG_HOST=127.0.0.1
PG_CLUSTER="${PG_CLUSTER:-main}"
APP_ROLE=xinfang
APP_PASSWORD=xinfang
DATABASES=(xinfang_intake xinfang_routing xinfang_tracking xinfang_evaluation)

log() { echo "[postgres] $*" >&2; }
die() { echo "[postgres] ERROR: $*" >&2; exit 1; }

# Newest installed server major version (directory under /usr/lib/postgresql with a postgres binary).
pg_version() {
    local v best=""
    for v in /usr/lib/postgresql/*/bin/postgres; do
        [ -x "$v" ] || continue
        v="${v#/usr/lib/postgresql/}"
        v="${v%%/*}"
        if [ -z "$best" ] || [ "$v" -gt "$best" ]; then best="$v"; fi
    done
    [ -n "$best" ] || return 1
    echo "$best"
}

as_postgres() {
    if [ "$(id -un)" = postgres ]; then
        "$@"
    elif command -v runuser >/dev/null 2>&1; then
        runuser -u postgres -- "$@"
    else
        su postgres -s /bin/sh -c "$(printf '%q ' "$@")"
    fi
}

psql_admin() {
    # Admin SQL over the Unix socket (peer auth as postgres); script on stdin.
    as_postgres psql -X -q -v ON_ERROR_STOP=1 -p "$PG_PORT" -d postgres
}

cmd_install() {
    if command -v pg_ctlcluster >/dev/null 2>&1 && pg_version >/dev/null 2>&1; then
        log "PostgreSQL $(pg_version) already installed"
        return 0
    fi
    [ "$(id -u)" = 0 ] || die "installing PostgreSQL needs root"
    log "installing PostgreSQL with apt-get (quiet)"
    export DEBIAN_FRONTEND=noninteractive
    apt-get update -qq >/dev/null
    apt-get install -y -qq --no-install-recommends postgresql >/dev/null
    pg_version >/dev/null || die "apt-get installed postgresql but no server binary was found"
    log "PostgreSQL $(pg_version) installed"
}

cluster_status() {
    # Prints the status column (online/down) of the cluster, nothing if it does not exist.
    pg_lsclusters -h 2>/dev/null | awk -v v="$1" -v c="$PG_CLUSTER" '$1 == v && $2 == c { print $4 }'
}

cmd_start() {
    local ver changed=0 cur_port
    ver="$(pg_version)" || die "PostgreSQL is not installed (run: $0 install)"
    command -v pg_ctlcluster >/dev/null 2>&1 || die "pg_ctlcluster missing (postgresql-common)"

    if [ -z "$(cluster_status "$ver")" ]; then
        log "creating cluster $ver/$PG_CLUSTER"
        pg_createcluster --port "$PG_PORT" "$ver" "$PG_CLUSTER" >/dev/null
    fi

    # Listen on 127.0.0.1:$PG_PORT only. Changes need a restart if the cluster is up.
    # The port goes into postgresql.conf (pg_lsclusters/pg_ctlcluster read it from there);
    # listen_addresses goes into a conf.d drop-in (pg_conftool would write 127.0.0.1 unquoted,
    # which the server rejects as a syntax error).
    local confdir="/etc/postgresql/$ver/$PG_CLUSTER" dropin want
    cur_port="$(pg_conftool -s "$ver" "$PG_CLUSTER" show port 2>/dev/null || true)"
    if [ "$cur_port" != "$PG_PORT" ]; then
        pg_conftool "$ver" "$PG_CLUSTER" set port "$PG_PORT"
        changed=1
    fi
    dropin="$confdir/conf.d/50-xinfang-ci.conf"
    want="# written by deploy/postgres/postgres.sh
listen_addresses = '$PG_HOST'"
    if [ ! -f "$dropin" ] || [ "$(cat "$dropin")" != "$want" ]; then
        install -d -o postgres -g postgres "$confdir/conf.d"
        printf '%s\n' "$want" >"$dropin"
        chown postgres:postgres "$dropin"
        changed=1
    fi

    # The socket directory lives on tmpfs on a rebooted machine.
    install -d -o postgres -g postgres -m 2775 /var/run/postgresql

    if [ "$(cluster_status "$ver")" = online ]; then
        if [ "$changed" = 1 ]; then
            log "restarting cluster $ver/$PG_CLUSTER (port/listen_addresses changed)"
            pg_ctlcluster "$ver" "$PG_CLUSTER" restart
        else
            log "cluster $ver/$PG_CLUSTER already running"
        fi
    else
        log "starting cluster $ver/$PG_CLUSTER on $PG_HOST:$PG_PORT"
        pg_ctlcluster "$ver" "$PG_CLUSTER" start
    fi

    local i
    for i in $(seq 1 60); do
        if pg_isready -q -h "$PG_HOST" -p "$PG_PORT"; then break; fi
        [ "$i" = 60 ] && {
            tail -n 30 "/var/log/postgresql/postgresql-$ver-$PG_CLUSTER.log" >&2 || true
            die "PostgreSQL not ready on $PG_HOST:$PG_PORT after 30 s"
        }
        sleep 0.5
    done

    # Role and databases, created only when missing; the password is (re)set every time.
    psql_admin <<SQL
DO \$\$
BEGIN
    IF NOT EXISTS (SELECT 1 FROM pg_roles WHERE rolname = '$APP_ROLE') THEN
        CREATE ROLE $APP_ROLE LOGIN CREATEDB PASSWORD '$APP_PASSWORD';
    ELSE
        ALTER ROLE $APP_ROLE LOGIN CREATEDB PASSWORD '$APP_PASSWORD';
    END IF;
END
\$\$;
-- Tests drop their scratch databases WITH (FORCE); an autovacuum worker busy on a freshly
-- seeded one runs as the superuser, and ending it needs this (development and CI only)
GRANT pg_signal_backend TO $APP_ROLE;
SQL
    local db
    for db in "${DATABASES[@]}"; do
        psql_admin <<SQL
SELECT 'CREATE DATABASE $db OWNER $APP_ROLE'
WHERE NOT EXISTS (SELECT 1 FROM pg_database WHERE datname = '$db')
\gexec
SQL
    done
    log "ready: $APP_ROLE@$PG_HOST:$PG_PORT, databases: ${DATABASES[*]}"
}

cmd_stop() {
    local ver
    ver="$(pg_version)" || { log "PostgreSQL not installed, nothing to stop"; return 0; }
    if [ "$(cluster_status "$ver")" = online ]; then
        log "stopping cluster $ver/$PG_CLUSTER"
        pg_ctlcluster "$ver" "$PG_CLUSTER" stop -m fast
    else
        log "cluster $ver/$PG_CLUSTER not running"
    fi
}

cmd_status() {
    local ver
    ver="$(pg_version)" || { echo "not installed"; return 1; }
    pg_lsclusters
    pg_isready -h "$PG_HOST" -p "$PG_PORT"
}

cmd_env() {
    local base="postgresql+asyncpg://$APP_ROLE:$APP_PASSWORD@$PG_HOST:$PG_PORT"
    echo "export XINFANG_TEST_POSTGRES_URL=$base/postgres"
    echo "export XINFANG_INTAKE_DATABASE_URL=$base/xinfang_intake"
    echo "export XINFANG_ROUTING_DATABASE_URL=$base/xinfang_routing"
    echo "export XINFANG_TRACKING_DATABASE_URL=$base/xinfang_tracking"
    echo "export XINFANG_EVALUATION_DATABASE_URL=$base/xinfang_evaluation"
}

[ $# -gt 0 ] || { sed -n '2,12p' "$0" | sed 's/^# \{0,1\}//'; exit 2; }
for arg in "$@"; do
    case "$arg" in
        install) cmd_install ;;
        start) cmd_start ;;
        stop) cmd_stop ;;
        status) cmd_status ;;
        env) cmd_env ;;
        *) die "unknown subcommand: $arg (install|start|stop|status|env)" ;;
    esac
done
