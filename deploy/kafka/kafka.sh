#!/usr/bin/env bash
# A single-node Apache Kafka (KRaft, broker + controller) from Maven Central jars, for CI and
# local tests. No Kafka distribution and no Docker needed: Java 17+, Maven and python3.
#
#   deploy/kafka/kafka.sh fetch    # mvn copy-dependencies into $KAFKA_HOME/libs (skipped when
#                                  # libs match deploy/kafka/pom.xml)
#   deploy/kafka/kafka.sh start    # fresh data dir + cluster id, format, launch, wait for a
#                                  # metadata response (90 s), print XINFANG_KAFKA_BOOTSTRAP_SERVERS=...
#   deploy/kafka/kafka.sh stop     # SIGTERM, SIGKILL after 40 s
#   deploy/kafka/kafka.sh smoke    # topic with 3 partitions, 10 keyed messages with headers,
#                                  # consumed back in a group with manual commit (aiokafka)
#   deploy/kafka/kafka.sh status | env
#
# Several subcommands may be given at once: `kafka.sh fetch start smoke stop`.
# Environment: XINFANG_KAFKA_HOME (default <repo>/var/kafka), KAFKA_PORT (19092),
# KAFKA_CONTROLLER_PORT (19093), KAFKA_SMOKE_PYTHON (a python with aiokafka for `smoke`;
# default <repo>/.venv/bin/python if it has aiokafka, else a private venv in $KAFKA_HOME/pyenv).
set -euo pipefail

SCRIPT_DIR="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)"
REPO_ROOT="$(cd "$SCRIPT_DIR/../.." && pwd)"
KAFKA_HOME="${XINFANG_KAFKA_HOME:-$REPO_ROOT/var/kafka}"
mkdir -p "$KAFKA_HOME"
KAFKA_HOME="$(cd "$KAFKA_HOME" && pwd)"

KAFKA_PORT="${KAFKA_PORT:-19092}"
KAFKA_CONTROLLER_PORT="${KAFKA_CONTROLLER_PORT:-19093}"
KAFKA_HOST=127.0.0.1
BOOTSTRAP="$KAFKA_HOST:$KAFKA_PORT"
START_TIMEOUT_S=90
STOP_TIMEOUT_S=40
SMOKE_AIOKAFKA="${KAFKA_SMOKE_AIOKAFKA:-aiokafka==0.14.0}"

POM="$SCRIPT_DIR/pom.xml"
LOG4J_CONF="$SCRIPT_DIR/log4j2.xml"
LIBS="$KAFKA_HOME/libs"
STAMP="$LIBS/.pom.sha256"
DATA_DIR="$KAFKA_HOME/data"
LOGS_DIR="$KAFKA_HOME/logs"
CONF_DIR="$KAFKA_HOME/config"
SERVER_PROPS="$CONF_DIR/server.properties"
PID_FILE="$KAFKA_HOME/kafka.pid"

log() { echo "[kafka] $*" >&2; }
die() { echo "[kafka] ERROR: $*" >&2; exit 1; }

check_ports() {
    local p
    for p in "$KAFKA_PORT" "$KAFKA_CONTROLLER_PORT"; do
        [[ "$p" =~ ^[0-9]+$ ]] || die "port '$p' is not a number"
        # 9092 belongs to the embedded broker of `make run`.
        [ "$p" != 9092 ] || die "port 9092 is reserved for make run's embedded broker"
    done
    [ "$KAFKA_PORT" != "$KAFKA_CONTROLLER_PORT" ] || die "KAFKA_PORT equals KAFKA_CONTROLLER_PORT"
}

port_open() {
    # True when something accepts TCP connections on 127.0.0.1:$1.
    (exec 3<>"/dev/tcp/$KAFKA_HOST/$1") 2>/dev/null
}

# The pid of the broker this script started, if it is alive; nothing otherwise.
broker_pid() {
    local pid=""
    if [ -f "$PID_FILE" ]; then
        pid="$(cat "$PID_FILE" 2>/dev/null || true)"
        if [ -n "$pid" ] && [ -r "/proc/$pid/cmdline" ]; then
            local cmdline
            cmdline="$(tr '\0' ' ' <"/proc/$pid/cmdline" 2>/dev/null || true)"
            if [[ "$cmdline" == *"kafka.Kafka $SERVER_PROPS"* ]]; then
                echo "$pid"
                return 0
            fi
        fi
    fi
    # Pid file lost: look for a broker started with this very config file.
    pid="$(pgrep -f -- "kafka.Kafka $SERVER_PROPS" 2>/dev/null | head -n 1 || true)"
    [ -n "$pid" ] && echo "$pid"
    return 0
}

java_cmd() {
    if [ -n "${JAVA_HOME:-}" ] && [ -x "$JAVA_HOME/bin/java" ]; then
        echo "$JAVA_HOME/bin/java"
    else
        command -v java || die "java not found (Java 17+ needed)"
    fi
}

cmd_fetch() {
    command -v mvn >/dev/null 2>&1 || die "mvn not found"
    local hash
    hash="$(sha256sum "$POM" | cut -d' ' -f1)"
    if compgen -G "$LIBS/kafka_2.13-*.jar" >/dev/null && [ "$(cat "$STAMP" 2>/dev/null || true)" = "$hash" ]; then
        log "libs up to date ($(find "$LIBS" -name '*.jar' | wc -l) jars in $LIBS)"
        return 0
    fi
    if [ -n "$(broker_pid)" ]; then
        die "the broker is running from $LIBS; stop it before fetching"
    fi
    log "fetching Kafka jars with Maven into $LIBS"
    local t0=$SECONDS
    # Stale jars would end up on -cp 'libs/*' too, so always start from an empty dir.
    rm -rf "$LIBS"
    mkdir -p "$LIBS"
    if ! mvn -B -q -Dstyle.color=never -f "$POM" dependency:copy-dependencies \
        -DoutputDirectory="$LIBS" -DincludeScope=runtime >"$KAFKA_HOME/fetch.log" 2>&1; then
        tail -n 40 "$KAFKA_HOME/fetch.log" >&2
        rm -rf "$LIBS"
        die "mvn dependency:copy-dependencies failed (full log: $KAFKA_HOME/fetch.log)"
    fi
    compgen -G "$LIBS/kafka_2.13-*.jar" >/dev/null || die "no kafka_2.13 jar in $LIBS after fetch"
    echo "$hash" >"$STAMP"
    log "fetched $(find "$LIBS" -name '*.jar' | wc -l) jars in $((SECONDS - t0)) s"
}

new_cluster_id() {
    # 22 characters of URL-safe base64 of a random UUID, like `kafka-storage.sh random-uuid`
    # (which also never returns an id starting with '-').
    python3 - <<'PY'
import base64, uuid
while True:
    cid = base64.urlsafe_b64encode(uuid.uuid4().bytes).decode().rstrip("=")
    if not cid.startswith("-"):
        print(cid)
        break
PY
}

write_server_properties() {
    mkdir -p "$CONF_DIR"
    cat >"$SERVER_PROPS" <<EOF
# Written by deploy/kafka/kafka.sh start; rewritten on every start.
process.roles=broker,controller
node.id=1
controller.quorum.voters=1@$KAFKA_HOST:$KAFKA_CONTROLLER_PORT
listeners=PLAINTEXT://$KAFKA_HOST:$KAFKA_PORT,CONTROLLER://$KAFKA_HOST:$KAFKA_CONTROLLER_PORT
advertised.listeners=PLAINTEXT://$KAFKA_HOST:$KAFKA_PORT,CONTROLLER://$KAFKA_HOST:$KAFKA_CONTROLLER_PORT
controller.listener.names=CONTROLLER
inter.broker.listener.name=PLAINTEXT
listener.security.protocol.map=CONTROLLER:PLAINTEXT,PLAINTEXT:PLAINTEXT
log.dirs=$DATA_DIR
num.partitions=1
offsets.topic.replication.factor=1
transaction.state.log.replication.factor=1
transaction.state.log.min.isr=1
share.coordinator.state.topic.replication.factor=1
share.coordinator.state.topic.min.isr=1
group.initial.rebalance.delay.ms=0
log.cleaner.dedupe.buffer.size=16777216
EOF
}

# Exit 0 when the broker answers a Metadata (v4) request listing at least one broker.
# Plain python3 (no aiokafka), so it works before any project venv exists.
metadata_ok() {
    python3 - "$KAFKA_HOST" "$KAFKA_PORT" <<'PY' 2>/dev/null
import socket, struct, sys

host, port = sys.argv[1], int(sys.argv[2])
client_id = b"xinfang-ci-ready"
# Request header v1 + Metadata v4 body: topics = null (all), allow_auto_topic_creation = false.
body = struct.pack(">hhih", 3, 4, 7, len(client_id)) + client_id + struct.pack(">ib", -1, 0)
with socket.create_connection((host, port), timeout=3) as s:
    s.settimeout(3)
    s.sendall(struct.pack(">i", len(body)) + body)

    def read(n):
        buf = b""
        while len(buf) < n:
            chunk = s.recv(n - len(buf))
            if not chunk:
                raise EOFError
            buf += chunk
        return buf

    (size,) = struct.unpack(">i", read(4))
    resp = read(size)
corr, _throttle, nbrokers = struct.unpack(">iii", resp[:12])
sys.exit(0 if corr == 7 and nbrokers >= 1 else 1)
PY
}

cmd_start() {
    check_ports
    compgen -G "$LIBS/kafka_2.13-*.jar" >/dev/null || die "no jars in $LIBS (run: $0 fetch)"
    local java pid
    java="$(java_cmd)"

    pid="$(broker_pid)"
    if [ -n "$pid" ]; then
        log "a broker from $KAFKA_HOME is running (pid $pid); restarting it fresh"
        cmd_stop
    fi
    local p
    for p in "$KAFKA_PORT" "$KAFKA_CONTROLLER_PORT"; do
        ! port_open "$p" || die "port $p on $KAFKA_HOST is already in use by another process"
    done

    local t0=$SECONDS cluster_id
    rm -rf "$DATA_DIR"
    mkdir -p "$DATA_DIR" "$LOGS_DIR"
    rm -f "$LOGS_DIR"/server.log*
    write_server_properties
    cluster_id="$(new_cluster_id)"

    log "formatting $DATA_DIR (cluster id $cluster_id)"
    if ! "$java" -Xmx256m -Dkafka.logs.dir="$LOGS_DIR" -Dlog4j2.configurationFile="$LOG4J_CONF" \
        -cp "$LIBS/*" kafka.tools.StorageTool format -t "$cluster_id" -c "$SERVER_PROPS" \
        >"$LOGS_DIR/format.log" 2>&1; then
        cat "$LOGS_DIR/format.log" >&2
        die "kafka.tools.StorageTool format failed"
    fi

    log "starting broker on $BOOTSTRAP (controller $KAFKA_HOST:$KAFKA_CONTROLLER_PORT)"
    # setsid: own session, so the broker outlives the shell (and its process group) that
    # started it; `stop` ends it by pid.
    setsid nohup "$java" -Xmx512m -Xms512m -XX:+UseG1GC -XX:MaxGCPauseMillis=20 \
        -Djava.awt.headless=true \
        -Dkafka.logs.dir="$LOGS_DIR" -Dlog4j2.configurationFile="$LOG4J_CONF" \
        -cp "$LIBS/*" kafka.Kafka "$SERVER_PROPS" \
        >"$LOGS_DIR/kafka.out" 2>&1 </dev/null &
    pid=$!
    echo "$pid" >"$PID_FILE"

    local deadline=$((SECONDS + START_TIMEOUT_S))
    while :; do
        if ! kill -0 "$pid" 2>/dev/null; then
            log "broker process $pid exited during startup; last log lines:"
            tail -n 40 "$LOGS_DIR/kafka.out" >&2 || true
            tail -n 40 "$LOGS_DIR/server.log" >&2 || true
            rm -f "$PID_FILE"
            exit 1
        fi
        if port_open "$KAFKA_PORT" && metadata_ok; then
            break
        fi
        if [ "$SECONDS" -ge "$deadline" ]; then
            log "broker not ready after $START_TIMEOUT_S s; last log lines:"
            tail -n 40 "$LOGS_DIR/server.log" >&2 || tail -n 40 "$LOGS_DIR/kafka.out" >&2 || true
            cmd_stop || true
            exit 1
        fi
        sleep 0.5
    done
    log "broker ready in $((SECONDS - t0)) s (pid $pid, logs in $LOGS_DIR)"
    echo "XINFANG_KAFKA_BOOTSTRAP_SERVERS=$BOOTSTRAP"
}

cmd_stop() {
    local pid
    pid="$(broker_pid)"
    if [ -z "$pid" ]; then
        log "no broker running from $KAFKA_HOME"
        rm -f "$PID_FILE"
        return 0
    fi
    log "stopping broker (pid $pid)"
    kill -TERM "$pid" 2>/dev/null || true
    local deadline=$((SECONDS + STOP_TIMEOUT_S))
    while kill -0 "$pid" 2>/dev/null; do
        if [ "$SECONDS" -ge "$deadline" ]; then
            log "broker still up after $STOP_TIMEOUT_S s; SIGKILL"
            kill -KILL "$pid" 2>/dev/null || true
            sleep 0.5
            break
        fi
        sleep 0.5
    done
    rm -f "$PID_FILE"
    log "stopped"
}

cmd_status() {
    local pid
    pid="$(broker_pid)"
    if [ -n "$pid" ] && metadata_ok; then
        echo "running (pid $pid) on $BOOTSTRAP"
    elif [ -n "$pid" ]; then
        echo "process $pid up but $BOOTSTRAP not answering metadata requests"
        return 1
    else
        echo "not running"
        return 1
    fi
}

cmd_env() {
    echo "export XINFANG_KAFKA_BOOTSTRAP_SERVERS=$BOOTSTRAP"
}

smoke_python() {
    if [ -n "${KAFKA_SMOKE_PYTHON:-}" ]; then
        echo "$KAFKA_SMOKE_PYTHON"
        return 0
    fi
    local py
    for py in "$REPO_ROOT/.venv/bin/python" "$KAFKA_HOME/pyenv/bin/python"; do
        if [ -x "$py" ] && "$py" -c 'import aiokafka' 2>/dev/null; then
            echo "$py"
            return 0
        fi
    done
    # No project venv yet (fresh clone in CI): a private one just for this check.
    log "creating $KAFKA_HOME/pyenv with $SMOKE_AIOKAFKA for the smoke test"
    rm -rf "$KAFKA_HOME/pyenv"
    python3 -m venv "$KAFKA_HOME/pyenv" >&2
    "$KAFKA_HOME/pyenv/bin/python" -m pip install -q --disable-pip-version-check "$SMOKE_AIOKAFKA" >&2 ||
        die "pip install $SMOKE_AIOKAFKA failed"
    echo "$KAFKA_HOME/pyenv/bin/python"
}

cmd_smoke() {
    local py
    py="$(smoke_python)"
    log "smoke test against $BOOTSTRAP with $py"
    "$py" - "$BOOTSTRAP" <<'PY'
import asyncio
import logging
import sys
import time
import uuid

from aiokafka import AIOKafkaConsumer, AIOKafkaProducer, TopicPartition
from aiokafka.admin import AIOKafkaAdminClient, NewTopic

# aiokafka logs retriable coordinator errors at WARNING/ERROR while __consumer_offsets is
# being created on a fresh broker; failures here are reported by fail() instead.
logging.getLogger("aiokafka").setLevel(logging.CRITICAL)

BOOTSTRAP = sys.argv[1]
N = 10
PARTITIONS = 3


def fail(msg):
    print(f"[kafka] SMOKE FAILED: {msg}", file=sys.stderr)
    sys.exit(1)


async def main():
    run = uuid.uuid4().hex[:10]
    topic = f"ci-smoke-{run}"
    group = f"ci-smoke-group-{run}"

    admin = AIOKafkaAdminClient(bootstrap_servers=BOOTSTRAP, request_timeout_ms=30000)
    await admin.start()
    try:
        await admin.create_topics(
            [NewTopic(name=topic, num_partitions=PARTITIONS, replication_factor=1)]
        )
        deadline = time.monotonic() + 30
        while topic not in set(await admin.list_topics()):
            if time.monotonic() > deadline:
                fail(f"topic {topic} not listed after creation")
            await asyncio.sleep(0.2)
    finally:
        await admin.close()

    producer = AIOKafkaProducer(bootstrap_servers=BOOTSTRAP, acks="all", enable_idempotence=True)
    await producer.start()
    sent = {}
    try:
        for i in range(N):
            key = f"key-{i}".encode()
            value = f"value-{i}-{run}".encode()
            headers = [("seq", str(i).encode()), ("run", run.encode())]
            md = await producer.send_and_wait(topic, value, key=key, headers=headers)
            sent[key] = (value, md.partition, headers)
    finally:
        await producer.stop()
    partitions_used = {p for _, p, _ in sent.values()}

    consumer = AIOKafkaConsumer(
        topic,
        bootstrap_servers=BOOTSTRAP,
        group_id=group,
        enable_auto_commit=False,
        auto_offset_reset="earliest",
    )
    await consumer.start()
    got = {}
    try:
        deadline = time.monotonic() + 60
        while len(got) < N and time.monotonic() < deadline:
            batches = await consumer.getmany(timeout_ms=1000)
            for tp, records in batches.items():
                for r in records:
                    if r.key not in sent:
                        fail(f"unexpected key {r.key!r}")
                    value, partition, headers = sent[r.key]
                    if r.value != value or tp.partition != partition:
                        fail(f"record {r.key!r} differs: {r.value!r} in partition {tp.partition}")
                    if list(r.headers) != headers:
                        fail(f"headers of {r.key!r} differ: {r.headers!r}")
                    got[r.key] = r.offset
            if batches:
                await consumer.commit()
        if len(got) != N:
            fail(f"consumed {len(got)} of {N} messages")
        committed = 0
        for p in range(PARTITIONS):
            committed += (await consumer.committed(TopicPartition(topic, p))) or 0
        if committed != N:
            fail(f"committed offsets add up to {committed}, expected {N}")
    finally:
        await consumer.stop()

    admin = AIOKafkaAdminClient(bootstrap_servers=BOOTSTRAP)
    await admin.start()
    try:
        await admin.delete_topics([topic])
    finally:
        await admin.close()
    print(
        f"[kafka] smoke ok: {N} keyed messages with headers over partitions "
        f"{sorted(partitions_used)} of {PARTITIONS}, consumed and committed by group {group}",
        file=sys.stderr,
    )


asyncio.run(asyncio.wait_for(main(), timeout=120))
PY
}

[ $# -gt 0 ] || { sed -n '2,18p' "$0" | sed 's/^# \{0,1\}//'; exit 2; }
for arg in "$@"; do
    case "$arg" in
        fetch) cmd_fetch ;;
        start) cmd_start ;;
        stop) cmd_stop ;;
        smoke) cmd_smoke ;;
        status) cmd_status ;;
        env) cmd_env ;;
        *) die "unknown subcommand: $arg (fetch|start|stop|smoke|status|env)" ;;
    esac
done
