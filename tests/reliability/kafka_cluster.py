"""Apache Kafka KRaft nodes as real java processes, for tests: one node, or a cluster of N on
one machine, each a combined broker + controller, started from the Maven jars that
``deploy/kafka/kafka.sh fetch`` puts in ``var/kafka/libs`` (``.ci/run`` does it before ``make
test``), with the broker settings of ``kafka.sh`` and its log4j2 configuration.

Node ``i`` (0-based) has ``node.id = i``, so a partition leader reported by the broker is the
node index to :meth:`KafkaCluster.kill`. Every node listens on two free loopback ports (client
and controller) chosen at construction. Topics are never created automatically (the services
create theirs, ``XINFANG_TOPIC_REPLICATION_FACTOR`` / ``XINFANG_TOPIC_PARTITIONS``); internal
topics are replicated ``min(3, N)`` times, ``default.replication.factor`` is ``min(3, N)`` and
``min.insync.replicas`` is the argument or ``min(2, N)``.

The JVMs run the C1 compiler only and the serial collector: a node starts in a fraction of
the CPU time on a small machine, and test loads never need C2. Logs: ``home/node-<i>/logs``
(``server.log``, ``kafka.out``, ``format.log``).

The processes never outlive the test: each runs in its own session and is stopped by
:meth:`KafkaCluster.close` (idempotent; also run at interpreter exit), and, when started from
the main thread, gets SIGTERM if the test process dies (``PR_SET_PDEATHSIG``).

Below the class, helpers that read what a cluster (any bootstrap) holds, for assertions:
:func:`read_topic` (every record to the end offsets), :func:`describe_topics` (leaders,
replicas, ISR), :func:`topic_configs` (effective configuration) and :func:`group_assignment`
(the members of a consumer group and their partitions).
"""

from __future__ import annotations

import asyncio
import atexit
import base64
import os
import re
import shutil
import signal
import socket
import struct
import subprocess
import threading
import time
import uuid
import weakref
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from aiokafka import AIOKafkaConsumer, TopicPartition
from aiokafka.admin import AIOKafkaAdminClient
from aiokafka.admin.config_resource import ConfigResource, ConfigResourceType
from aiokafka.coordinator.protocol import ConsumerProtocolMemberAssignment

from shared.messaging.kafka import stop_consumer

REPO = Path(__file__).resolve().parents[2]
LOG4J_CONF = REPO / "deploy" / "kafka" / "log4j2.xml"
HOST = "127.0.0.1"
STOP_GRACE = 40.0  # seconds between SIGTERM and SIGKILL, as kafka.sh stop


def kafka_libs() -> Path | None:
    """The directory of the Kafka jars: ``$XINFANG_KAFKA_LIBS``, else ``<repo>/var/kafka/libs``,
    if it holds a ``kafka_2.13-*.jar``; else None."""
    configured = os.environ.get("XINFANG_KAFKA_LIBS")
    libs = Path(configured) if configured else REPO / "var" / "kafka" / "libs"
    if libs.is_dir() and any(libs.glob("kafka_2.13-*.jar")):
        return libs
    return None


def java_binary() -> str | None:
    """``$JAVA_HOME/bin/java`` or ``java`` on PATH (Java 17+), as kafka.sh; None without one."""
    home = os.environ.get("JAVA_HOME")
    if home and os.access(Path(home) / "bin" / "java", os.X_OK):
        return str(Path(home) / "bin" / "java")
    return shutil.which("java")


def _free_ports(count: int) -> list[int]:
    """``count`` distinct free loopback ports (all bound at once, so never the same twice)."""
    socks = []
    try:
        while len(socks) < count:
            s = socket.socket()
            s.bind((HOST, 0))
            port = s.getsockname()[1]
            if 7990 <= port <= 9100:  # 8000-8004 and 9092 belong to `make run`
                s.close()
                continue
            socks.append(s)
        return [s.getsockname()[1] for s in socks]
    finally:
        for s in socks:
            s.close()


def _new_cluster_id() -> str:
    """22 characters of URL-safe base64 of a random UUID, never starting with '-'."""
    while True:
        cid = base64.urlsafe_b64encode(uuid.uuid4().bytes).decode().rstrip("=")
        if not cid.startswith("-"):
            return cid


def _die_with_parent() -> None:
    try:
        import ctypes

        ctypes.CDLL("libc.so.6", use_errno=True).prctl(1, signal.SIGTERM)  # PR_SET_PDEATHSIG
    except (OSError, AttributeError):
        pass


def metadata(port: int, host: str = HOST, timeout: float = 3.0) -> tuple[list[int], int]:
    """(broker ids, controller id) from one Metadata (v4) request to ``host:port``: the
    brokers the cluster lists as alive and unfenced. Plain sockets, no client library."""
    client_id = b"xinfang-test-cluster"
    # header v1 (api key 3, version 4, correlation id, client id) + body: all topics, no
    # automatic topic creation
    body = struct.pack(">hhih", 3, 4, 11, len(client_id)) + client_id + struct.pack(">ib", -1, 0)
    with socket.create_connection((host, port), timeout=timeout) as s:
        s.settimeout(timeout)
        s.sendall(struct.pack(">i", len(body)) + body)

        def read(n: int) -> bytes:
            buf = b""
            while len(buf) < n:
                chunk = s.recv(n - len(buf))
                if not chunk:
                    raise EOFError("connection closed")
                buf += chunk
            return buf

        (size,) = struct.unpack(">i", read(4))
        resp = read(size)
    corr, _throttle, count = struct.unpack(">iii", resp[:12])
    if corr != 11:
        raise ValueError("unexpected correlation id")
    pos, ids = 12, []
    for _ in range(count):
        node_id, host_len = struct.unpack(">ih", resp[pos : pos + 6])
        pos += 6 + host_len + 4  # host, port
        (rack_len,) = struct.unpack(">h", resp[pos : pos + 2])
        pos += 2 + max(rack_len, 0)
        ids.append(node_id)
    (cluster_len,) = struct.unpack(">h", resp[pos : pos + 2])
    pos += 2 + max(cluster_len, 0)
    (controller,) = struct.unpack(">i", resp[pos : pos + 4])
    return sorted(ids), controller


# "[2026-11-28 17:45:37,444] INFO [RaftManager id=1] Completed transition to Leader(..."
_ELECTED = re.compile(
    r"^\[([0-9 :,-]+)\] INFO \[RaftManager id=(\d+)\] Completed transition to Leader\("
)

_open_clusters: weakref.WeakSet[KafkaCluster] = weakref.WeakSet()


@atexit.register
def _close_all() -> None:
    for cluster in list(_open_clusters):
        cluster.close()


class KafkaCluster:
    """``nodes`` KRaft nodes (broker + controller each) under ``home/node-<i>``."""

    def __init__(
        self,
        home: Path,
        nodes: int = 1,
        *,
        libs: Path | None = None,
        heap: str = "512m",
        min_insync_replicas: int | None = None,
    ) -> None:
        if nodes < 1:
            raise ValueError("a cluster has at least one node")
        self.home = Path(home)
        self.nodes = nodes
        self.libs = libs or kafka_libs()
        self.heap = heap
        self.min_insync_replicas = min_insync_replicas or min(2, nodes)
        ports = _free_ports(2 * nodes)
        self.ports = ports[:nodes]  # client (PLAINTEXT) port of node i
        self.controller_ports = ports[nodes:]
        self.cluster_id = _new_cluster_id()
        self._procs: list[subprocess.Popen[bytes] | None] = [None] * nodes
        self._running: set[int] = set()  # nodes meant to be up (not killed or stopped)
        self._lock = threading.Lock()

    # -- addresses and paths --

    @property
    def bootstrap(self) -> str:
        return ",".join(f"{HOST}:{p}" for p in self.ports)

    def node_dir(self, node: int) -> Path:
        return self.home / f"node-{node}"

    def data_dir(self, node: int) -> Path:
        return self.node_dir(node) / "data"

    def log_path(self, node: int) -> Path:
        """The node's server.log (INFO); ``kafka.out`` beside it holds warnings and errors."""
        return self.node_dir(node) / "logs" / "server.log"

    def alive(self, node: int) -> bool:
        proc = self._procs[node]
        return proc is not None and proc.poll() is None

    def pid(self, node: int) -> int | None:
        proc = self._procs[node]
        return proc.pid if proc is not None and proc.poll() is None else None

    def brokers(self, timeout: float = 3.0) -> list[int]:
        """The node ids the cluster's metadata lists (asked of the first node that answers)."""
        for node in range(self.nodes):
            if not self.alive(node):
                continue
            try:
                return metadata(self.ports[node], timeout=timeout)[0]
            except (OSError, ValueError, EOFError, struct.error):
                continue
        return []

    def controller(self) -> int | None:
        """The node the KRaft quorum last elected leader (the active controller), from the
        nodes' logs; None if none says so yet."""
        elected: list[tuple[str, int]] = []
        for node in range(self.nodes):
            path = self.log_path(node)
            if not path.exists():
                continue
            for line in path.read_text(errors="replace").splitlines():
                m = _ELECTED.match(line)
                if m:
                    elected.append((m.group(1), int(m.group(2))))
        return max(elected)[1] if elected else None

    # -- configuration --

    def _properties(self, node: int) -> str:
        n = self.nodes
        replicas = min(3, n)
        voters = ",".join(f"{i}@{HOST}:{self.controller_ports[i]}" for i in range(n))
        port, cport = self.ports[node], self.controller_ports[node]
        return "\n".join(
            [
                "# Written by tests/reliability/kafka_cluster.py (settings of kafka.sh)",
                "process.roles=broker,controller",
                f"node.id={node}",
                f"controller.quorum.voters={voters}",
                f"listeners=PLAINTEXT://{HOST}:{port},CONTROLLER://{HOST}:{cport}",
                f"advertised.listeners=PLAINTEXT://{HOST}:{port},CONTROLLER://{HOST}:{cport}",
                "controller.listener.names=CONTROLLER",
                "inter.broker.listener.name=PLAINTEXT",
                "listener.security.protocol.map=CONTROLLER:PLAINTEXT,PLAINTEXT:PLAINTEXT",
                f"log.dirs={self.data_dir(node)}",
                "num.partitions=1",
                f"default.replication.factor={replicas}",
                f"min.insync.replicas={self.min_insync_replicas}",
                "auto.create.topics.enable=false",
                "unclean.leader.election.enable=false",
                f"offsets.topic.replication.factor={replicas}",
                f"transaction.state.log.replication.factor={replicas}",
                f"transaction.state.log.min.isr={min(2, n)}",
                f"share.coordinator.state.topic.replication.factor={replicas}",
                f"share.coordinator.state.topic.min.isr={min(2, n)}",
                "group.initial.rebalance.delay.ms=0",
                "log.cleaner.dedupe.buffer.size=16777216",
                # a small machine: fewer threads and internal partitions than the defaults
                "offsets.topic.num.partitions=12",
                "num.network.threads=2",
                "num.io.threads=4",
                "background.threads=4",
                "",
            ]
        )

    def _jvm(self, node: int, heap: str) -> list[str]:
        java = java_binary()
        if java is None:
            raise RuntimeError("java not found (Java 17+ needed): set JAVA_HOME or PATH")
        return [
            java,
            f"-Xmx{heap}",
            f"-Xms{heap}",
            # C1 only and the serial collector: a start costs a fraction of the CPU of C2 + G1
            # (on 2 busy cores, 30 s instead of 80-120 s for three nodes)
            "-XX:TieredStopAtLevel=1",
            "-XX:+UseSerialGC",
            "-XX:+ExitOnOutOfMemoryError",
            "-Djava.awt.headless=true",
            f"-Dkafka.logs.dir={self.node_dir(node) / 'logs'}",
            f"-Dlog4j2.configurationFile={LOG4J_CONF}",
            "-cp",
            f"{self.libs}/*",
        ]

    def _config_path(self, node: int) -> Path:
        return self.node_dir(node) / "server.properties"

    # -- lifecycle --

    def start(self, timeout: float = 120) -> None:
        """Fresh data directories, formatted with one cluster id; every node started; returns
        once the metadata lists all of them."""
        if self.libs is None:
            raise RuntimeError("no Kafka jars: run deploy/kafka/kafka.sh fetch")
        formats = []
        for node in range(self.nodes):
            shutil.rmtree(self.data_dir(node), ignore_errors=True)
            (self.node_dir(node) / "logs").mkdir(parents=True, exist_ok=True)
            self.data_dir(node).mkdir(parents=True)
            self._config_path(node).write_text(self._properties(node))
            out = open(self.node_dir(node) / "logs" / "format.log", "wb")  # noqa: SIM115
            cmd = [
                *self._jvm(node, "256m"),
                "kafka.tools.StorageTool",
                "format",
                "-t",
                self.cluster_id,
                "-c",
                str(self._config_path(node)),
            ]
            formats.append((node, subprocess.Popen(cmd, stdout=out, stderr=subprocess.STDOUT)))
            out.close()
        for node, proc in formats:
            if proc.wait(120) != 0:
                log = (self.node_dir(node) / "logs" / "format.log").read_text(errors="replace")
                raise RuntimeError(f"formatting node {node} failed:\n{log[-3000:]}")
        _open_clusters.add(self)
        try:
            for node in range(self.nodes):
                self._launch(node)
            self._wait(lambda: len(self.brokers()) == self.nodes, timeout, "all brokers listed")
        except BaseException:
            self.close()
            raise

    def _launch(self, node: int) -> None:
        with self._lock:
            if self.alive(node):
                raise RuntimeError(f"node {node} is running")
            out = open(self.node_dir(node) / "logs" / "kafka.out", "ab")  # noqa: SIM115
            main = threading.current_thread() is threading.main_thread()
            self._procs[node] = subprocess.Popen(
                [*self._jvm(node, self.heap), "kafka.Kafka", str(self._config_path(node))],
                stdout=out,
                stderr=subprocess.STDOUT,
                stdin=subprocess.DEVNULL,
                start_new_session=True,
                # PDEATHSIG follows the thread that forked: only from the main thread
                preexec_fn=_die_with_parent if main else None,
            )
            out.close()
            self._running.add(node)

    def _wait(self, ready, timeout: float, what: str) -> None:  # type: ignore[no-untyped-def]
        deadline = time.monotonic() + timeout
        while not ready():
            for node in sorted(self._running):
                proc = self._procs[node]
                if proc is not None and proc.poll() is not None:
                    tail = self._tail(node)
                    raise RuntimeError(f"kafka node {node} exited ({proc.returncode}):\n{tail}")
            if time.monotonic() > deadline:
                tails = "\n".join(self._tail(n) for n in range(self.nodes))
                raise RuntimeError(f"kafka cluster: {what} not reached in {timeout:.0f}s\n{tails}")
            time.sleep(0.5)

    def _tail(self, node: int, lines: int = 30) -> str:
        parts = []
        for name in ("kafka.out", "server.log"):
            path = self.node_dir(node) / "logs" / name
            if path.exists():
                text = path.read_text(errors="replace").splitlines()[-lines:]
                parts.append(f"--- node {node} {name}\n" + "\n".join(text))
        return "\n".join(parts)

    def kill(self, node: int) -> None:
        """SIGKILL: no shutdown hook, no controlled shutdown (what a crash looks like)."""
        self._running.discard(node)
        proc = self._procs[node]
        if proc is None or proc.poll() is not None:
            return
        proc.send_signal(signal.SIGKILL)
        proc.wait()

    def stop_node(self, node: int) -> None:
        """SIGTERM (a controlled shutdown), SIGKILL after 40 s."""
        self._running.discard(node)
        proc = self._procs[node]
        if proc is None or proc.poll() is not None:
            return
        proc.send_signal(signal.SIGTERM)
        try:
            proc.wait(STOP_GRACE)
        except subprocess.TimeoutExpired:
            proc.send_signal(signal.SIGKILL)
            proc.wait()

    def start_node(self, node: int, timeout: float = 120) -> None:
        """Starts a stopped or killed node again on its data directory, and returns once it
        answers and the metadata it serves lists it (registered and caught up)."""
        self._launch(node)

        def back() -> bool:
            try:
                return node in metadata(self.ports[node])[0]
            except (OSError, ValueError, EOFError, struct.error):
                return False

        self._wait(back, timeout, f"node {node} back in the metadata")

    def restart(self, node: int = 0, timeout: float = 120) -> None:
        self.stop_node(node)
        self.start_node(node, timeout)

    def close(self) -> None:
        """Stops every node (SIGTERM to all, SIGKILL to those still up after 40 s)."""
        self._running.clear()
        procs = [p for p in self._procs if p is not None and p.poll() is None]
        for proc in procs:
            proc.send_signal(signal.SIGTERM)
        deadline = time.monotonic() + STOP_GRACE
        for proc in procs:
            try:
                proc.wait(max(0.1, deadline - time.monotonic()))
            except subprocess.TimeoutExpired:
                proc.send_signal(signal.SIGKILL)
                proc.wait()
        _open_clusters.discard(self)

    def __enter__(self) -> KafkaCluster:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()


# -- what the cluster holds, for assertions (aiokafka; any bootstrap, not only a KafkaCluster) --


@dataclass(frozen=True)
class Record:
    topic: str
    partition: int
    offset: int
    key: bytes | None
    event_id: str  # the ce_id header ("" when absent)
    type: str  # the ce_type header
    value: bytes | None


async def read_topic(bootstrap: str, topic: str, timeout: float = 120) -> list[Record]:
    """Every record of ``topic``, from the beginning to the end offsets read at the start.
    Ends when every partition is read to that end, not after a time (``timeout`` only bounds
    a broker that never answers)."""
    consumer = AIOKafkaConsumer(
        bootstrap_servers=bootstrap,
        group_id=None,
        enable_auto_commit=False,
        auto_offset_reset="earliest",
        request_timeout_ms=30000,
    )
    await consumer.start()
    out: list[Record] = []
    try:
        parts = consumer.partitions_for_topic(topic)
        if parts is None:
            await consumer._client.force_metadata_update()  # noqa: SLF001 - a fresh client
            parts = consumer.partitions_for_topic(topic) or set()
        tps = [TopicPartition(topic, p) for p in sorted(parts)]
        if not tps:
            return out
        consumer.assign(tps)
        await consumer.seek_to_beginning(*tps)
        ends = await consumer.end_offsets(tps)

        async def behind() -> bool:
            return any([await consumer.position(tp) < ends[tp] for tp in tps])

        async def drain() -> None:
            while await behind():
                batch = await consumer.getmany(timeout_ms=1000, max_records=1000)
                for tp, records in batch.items():
                    for r in records:
                        if r.offset >= ends[tp]:
                            continue
                        headers = dict(r.headers or [])
                        out.append(
                            Record(
                                topic,
                                tp.partition,
                                r.offset,
                                r.key,
                                headers.get("ce_id", b"").decode(),
                                headers.get("ce_type", b"").decode(),
                                r.value,
                            )
                        )

        await asyncio.wait_for(drain(), timeout)
        return out
    finally:
        await stop_consumer(consumer)  # consumer.stop() may raise a stray CancelledError


async def describe_topics(bootstrap: str, topics: list[str]) -> dict[str, list[dict[str, Any]]]:
    """Per topic, its partitions as the metadata gives them (``partition``, ``leader``,
    ``replicas``, ``isr``), sorted by partition."""
    client = AIOKafkaAdminClient(bootstrap_servers=bootstrap, request_timeout_ms=30000)
    await client.start()
    try:
        described = await client.describe_topics(topics)
    finally:
        await client.close()
    return {
        t["topic"]: sorted(t["partitions"], key=lambda p: p["partition"])
        for t in described
        if not t.get("error_code")
    }


async def topic_configs(bootstrap: str, topic: str) -> dict[str, str]:
    """The effective configuration of a topic (its own settings, else the brokers')."""
    client = AIOKafkaAdminClient(bootstrap_servers=bootstrap, request_timeout_ms=30000)
    await client.start()
    try:
        (response,) = await client.describe_configs(
            [ConfigResource(ConfigResourceType.TOPIC, topic)]
        )
    finally:
        await client.close()
    (resource,) = response.resources
    error_code, _message, _type, _name, entries = resource[:5]
    if error_code:
        raise RuntimeError(f"describe_configs {topic}: error {error_code}")
    return {entry[0]: entry[1] for entry in entries}


async def group_assignment(bootstrap: str, group: str) -> dict[str, set[TopicPartition]]:
    """The members of a consumer group (member id) and the partitions each one holds."""
    client = AIOKafkaAdminClient(bootstrap_servers=bootstrap, request_timeout_ms=30000)
    await client.start()
    try:
        responses = await client.describe_consumer_groups([group])
    finally:
        await client.close()
    members: dict[str, set[TopicPartition]] = {}
    for response in responses:
        for g in response.groups:
            error_code, name, _state, _ptype, _protocol, group_members = g[:6]
            if name != group:
                continue
            if error_code:
                raise RuntimeError(f"describe_consumer_groups {group}: error {error_code}")
            for member in group_members:
                member_id, raw = member[0], member[4]
                held = ConsumerProtocolMemberAssignment.decode(raw).partitions() if raw else []
                members[member_id] = set(held)
    return members
