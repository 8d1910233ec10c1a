"""The `sentinel` role of redis-conf/users.acl is exactly what Sentinel needs.

Sentinels log in to every data node as `sentinel` (redis-conf/sentinel.conf:
`sentinel auth-user`). Too little and a failover dies half-way (the
MULTI/REPLICAOF/CONFIG REWRITE/CLIENT KILL/EXEC block of a promotion is
refused as a whole); too much and a stolen Sentinel password reads or wipes
the data. Two proofs, both on real redis-server / redis-sentinel processes:

* `ACL DRYRUN sentinel …` allows every command Sentinel sends to a data node
  (monitoring and failover) and denies a list of things it must never do;
  the role grants no command that is not on the first list.
* A live run rendered from redis-conf/ (redis.conf + replication.conf
  [+ replica.conf], users.acl, sentinel.conf): a primary, two replicas and
  three Sentinels on 127.0.0.1, `SENTINEL FAILOVER` as admin, a new primary
  elected and every node following it, and `ACL LOG` on every data node
  without a single denial for `sentinel` or `replication`. The same ACL LOG
  check then catches a role missing one command (`config|rewrite`).

Needs redis-server, redis-sentinel (Debian: redis-server, redis-sentinel) and
nothing else: the templates are rendered here, passwords hashed with SHA-256.

    .tools/venv/bin/python -m pytest tests/iac/test_policy_acl.py -q
"""

from __future__ import annotations

import hashlib
import re
import secrets
import shutil
import socket
import subprocess
import time
from dataclasses import dataclass
from pathlib import Path

import pytest

from conftest import REPO_ROOT

POLICY = REPO_ROOT / "redis-conf"
MASTER_NAME = "mymaster"
WAIT = 30.0  # seconds any single live condition may take

# One password per role, with the characters redis.conf quoting must survive
# (the `*_SECRET` placeholders carry them in clear text).
PASSWORDS = {
    "admin": secrets.token_hex(16),
    "app": secrets.token_hex(16),
    "exporter": secrets.token_hex(16),
    "replication": 'r"e\\p l' + secrets.token_hex(8),
    "sentinel": 's\\"e n&' + secrets.token_hex(8),
}

# What Sentinel sends to a data node, as (command, ACL rule that grants it).
# The role must allow each and grant nothing else (see the rule check below).
SENTINEL_SENDS = [
    (("AUTH", "sentinel", "pw"), "+auth"),  # every (re)connection
    (("HELLO", "2"), "+hello"),  # protocol handshake a client library may send; harmless
    (("CLIENT", "SETNAME", "sentinel-0123abcd-cmd"), "+client|setname"),  # names both links
    (("PING",), "+ping"),  # liveness, every second
    (("INFO",), "+info"),  # role, replicas, offsets, every 10 s (1 s in a failover)
    (("ROLE",), "+role"),  # the chart's start-up scripts ask data nodes as `sentinel` (lib.sh: ask_peers)
    (("SUBSCRIBE", "__sentinel__:hello"), "+subscribe"),  # peer discovery
    (("PUBLISH", "__sentinel__:hello", "127.0.0.1,26379,id,0,mymaster,127.0.0.1,6379,0"), "+publish"),
    # Promotion and reconfiguration: one MULTI block per node.
    (("MULTI",), "+multi"),
    (("SLAVEOF", "NO", "ONE"), "+slaveof"),
    (("SLAVEOF", "127.0.0.1", "6380"), "+slaveof"),
    (("REPLICAOF", "127.0.0.1", "6380"), "+replicaof"),
    (("CONFIG", "REWRITE"), "+config|rewrite"),
    (("CLIENT", "KILL", "TYPE", "normal"), "+client|kill"),
    (("CLIENT", "KILL", "TYPE", "pubsub"), "+client|kill"),
    (("EXEC",), "+exec"),
    (("SCRIPT", "KILL"), "+script|kill"),  # a primary stuck in a script (BUSY)
]

# What a leaked Sentinel password must not allow.
SENTINEL_MUST_NOT = [
    ("GET", "session:1"),
    ("SET", "session:1", "x"),
    ("KEYS", "*"),
    ("SCAN", "0"),
    ("FLUSHALL",),
    ("FLUSHDB",),
    ("CONFIG", "SET", "maxmemory", "0"),
    ("CONFIG", "GET", "masterauth"),
    ("ACL", "SETUSER", "intruder", "on", ">pw", "+@all"),
    ("ACL", "LIST"),
    ("MODULE", "LOAD", "/tmp/evil.so"),
    ("SHUTDOWN",),
    ("DEBUG", "SLEEP", "0"),
    ("EVAL", "return 1", "0"),
    ("PSYNC", "?", "-1"),  # that is the replication role's
    ("PUBLISH", "app-events", "x"),  # channels other than the hello channel
    ("SUBSCRIBE", "app-events"),
    ("PSUBSCRIBE", "*"),
]


# --------------------------------------------------------------------------
# rendering redis-conf/ the way topology/src/policy.rs does


def conf_quote(value: str) -> str:
    return '"' + value.replace("\\", "\\\\").replace('"', '\\"') + '"'


def render(name: str, values: dict[str, str]) -> str:
    """redis-conf/<name> with its placeholders filled in directive lines:
    `NAME_PASSWORD` the ACL hash of role name's password, `NAME_SECRET` the
    quoted clear text, anything else from `values` (a missing one fails)."""

    def value(match: re.Match) -> str:
        ph = match.group(1)
        if ph.endswith("_PASSWORD"):
            return "#" + hashlib.sha256(PASSWORDS[ph.removesuffix("_PASSWORD").lower()].encode()).hexdigest()
        if ph.endswith("_SECRET"):
            return conf_quote(PASSWORDS[ph.removesuffix("_SECRET").lower()])
        assert ph in values, f"redis-conf/{name}: no value for {{{{{ph}}}}}"
        return values[ph]

    return "".join(
        line if line.lstrip().startswith("#") else re.sub(r"\{\{([A-Z_]+)\}\}", value, line)
        for line in (POLICY / name).read_text().splitlines(keepends=True)
    )


def render_acl() -> str:
    """users.acl without comments and blank lines: ACL files take only `user` lines."""
    return "".join(
        line for line in render("users.acl", {}).splitlines(keepends=True)
        if line.strip() and not line.lstrip().startswith("#")
    )


def sentinel_role_line() -> str:
    lines = [line for line in (POLICY / "users.acl").read_text().splitlines() if line.startswith("user sentinel ")]
    assert len(lines) == 1, "redis-conf/users.acl must define the sentinel role once"
    return lines[0]


# --------------------------------------------------------------------------
# a minimal RESP2 client: no argv passwords, replies parsed, nothing to install


class ReplyError(Exception):
    pass


class Conn:
    def __init__(self, port: int, user: str | None = "admin", timeout: float = 5.0):
        self.sock = socket.create_connection(("127.0.0.1", port), timeout=timeout)
        self.file = self.sock.makefile("rb")
        if user:
            self.call("AUTH", user, PASSWORDS[user])

    def call(self, *args: str):
        parts = [a.encode() if isinstance(a, str) else a for a in args]
        self.sock.sendall(b"*%d\r\n" % len(parts) + b"".join(b"$%d\r\n%s\r\n" % (len(p), p) for p in parts))
        reply = self._read()
        if isinstance(reply, ReplyError):
            raise reply
        return reply

    def _read(self):
        line = self.file.readline()
        if not line:
            raise ConnectionError("connection closed")
        kind, rest = line[:1], line[1:-2].decode(errors="replace")
        if kind == b"+":
            return rest
        if kind == b"-":
            return ReplyError(rest)
        if kind == b":":
            return int(rest)
        if kind == b"$":
            n = int(rest)
            return None if n < 0 else self.file.read(n + 2)[:-2].decode(errors="replace")
        if kind == b"*":
            n = int(rest)
            return None if n < 0 else [self._read() for _ in range(n)]
        raise ValueError(f"unexpected reply {line!r}")

    def close(self) -> None:
        self.file.close()
        self.sock.close()


def call(port: int, *args: str, user: str = "admin"):
    conn = Conn(port, user)
    try:
        return conn.call(*args)
    finally:
        conn.close()


def try_call(port: int, *args: str, user: str = "admin"):
    """call(), with a refused connection or an error reply as None."""
    try:
        return call(port, *args, user=user)
    except (OSError, ReplyError):
        return None


def pairs(flat: list) -> dict:
    return dict(zip(flat[::2], flat[1::2]))


def info(port: int, section: str) -> dict[str, str]:
    text = call(port, "INFO", section)
    return dict(line.split(":", 1) for line in text.splitlines() if ":" in line and not line.startswith("#"))


# --------------------------------------------------------------------------
# processes


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


@dataclass
class Proc:
    name: str
    port: int
    popen: subprocess.Popen
    log: Path
    conf: Path

    def tail(self) -> str:
        try:
            return "\n".join(self.log.read_text(errors="replace").splitlines()[-30:])
        except OSError:
            return ""


class Processes:
    """Starts redis-server / redis-sentinel processes and stops them (by
    their own handle) at teardown."""

    def __init__(self, root: Path):
        self.root = root
        self.procs: list[Proc] = []

    def start(self, name: str, binary: str, conf_text: str, port: int) -> Proc:
        directory = self.root / name
        directory.mkdir()
        conf = directory / f"{name}.conf"
        conf.write_text(conf_text)
        conf.chmod(0o600)
        log = self.root / f"{name}.log"
        with open(log, "ab") as out:
            popen = subprocess.Popen([binary, str(conf)], cwd=directory, stdout=out, stderr=subprocess.STDOUT,
                                     stdin=subprocess.DEVNULL, start_new_session=True)
        proc = Proc(name, port, popen, log, conf)
        self.procs.append(proc)
        wait_for(lambda: try_call(port, "PING") == "PONG", f"{name} to answer PING as admin", proc)
        return proc

    def stop_all(self) -> None:
        for proc in reversed(self.procs):
            if proc.popen.poll() is None:
                proc.popen.terminate()
                try:
                    proc.popen.wait(timeout=10)
                except subprocess.TimeoutExpired:
                    proc.popen.kill()
                    proc.popen.wait(timeout=10)


def wait_for(condition, what: str, proc: Proc | None = None, timeout: float = WAIT, procs: list[Proc] = ()):
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        result = condition()
        if result:
            return result
        for p in [proc, *procs] if proc else procs:
            if p.popen.poll() is not None:
                pytest.fail(f"{p.name} exited with {p.popen.returncode} while waiting for {what}:\n{p.tail()}")
        time.sleep(0.2)
    logs = "".join(f"\n--- {p.name}\n{p.tail()}" for p in ([proc] if proc else []) + list(procs))
    pytest.fail(f"timed out after {timeout}s waiting for {what}{logs}")


def binary(name: str) -> str:
    path = shutil.which(name)
    if path is None:
        pytest.skip(f"SKIPPED: {name} not found (apt-get install redis-server redis-sentinel)")
    return path


@pytest.fixture
def processes(tmp_path):
    procs = Processes(tmp_path)
    yield procs
    procs.stop_all()


def start_data_node(processes: Processes, name: str, port: int, primary: int | None) -> Proc:
    """A data node of a Sentinel deployment as the policy describes it:
    redis.conf + replication.conf (+ replica.conf when it starts as a
    replica), ACL users from users.acl."""
    directory = processes.root / name
    acl = processes.root / f"{name}.acl"
    acl.write_text(render_acl())
    acl.chmod(0o600)
    values = {
        "BIND": "127.0.0.1", "PORT": str(port), "DIR": conf_quote(str(directory)), "ACLFILE": conf_quote(str(acl)),
        "MAXMEMORY": "64mb", "ANNOUNCE_HOST": "127.0.0.1", "ANNOUNCE_PORT": str(port),
        "PRIMARY_HOST": "127.0.0.1", "PRIMARY_PORT": str(primary),
    }
    text = render("redis.conf", values) + "\n" + render("replication.conf", values)
    if primary is not None:
        text += "\n" + render("replica.conf", values)
    return processes.start(name, binary("redis-server"), text, port)


def start_sentinel(processes: Processes, name: str, port: int, primary: int) -> Proc:
    directory = processes.root / name
    values = {
        "BIND": "127.0.0.1", "PORT": str(port), "DIR": conf_quote(str(directory)), "ANNOUNCE_HOST": "127.0.0.1",
        "ANNOUNCE_PORT": str(port), "MASTER_NAME": MASTER_NAME, "MASTER_HOST": "127.0.0.1",
        "MASTER_PORT": str(primary), "QUORUM": "2",
    }
    return processes.start(name, binary("redis-sentinel"), render("sentinel.conf", values), port)


def denials(port: int, users: tuple[str, ...] = ("sentinel", "replication")) -> list[dict]:
    """ACL LOG entries of `users` on a data node."""
    return [e for e in map(pairs, call(port, "ACL", "LOG")) if e.get("username") in users]


# --------------------------------------------------------------------------
# ACL DRYRUN


def test_sentinel_role_grants_exactly_what_sentinel_sends():
    """Every rule of the role is accounted for by a command Sentinel sends,
    and it grants no key and only the hello channel."""
    tokens = sentinel_role_line().split()[4:]  # after `user sentinel on <password>`
    granted = {t for t in tokens if t.startswith("+")}
    assert granted == {rule for _, rule in SENTINEL_SENDS}, (
        f"granted but not sent by Sentinel: {sorted(granted - {r for _, r in SENTINEL_SENDS})}; "
        f"sent but not granted: {sorted({r for _, r in SENTINEL_SENDS} - granted)}"
    )
    assert "-@all" in tokens and tokens.index("-@all") < min(tokens.index(t) for t in granted)
    assert {"resetkeys", "resetchannels"} <= set(tokens)
    assert [t for t in tokens if t.startswith(("~", "%", "&", "allkeys", "allchannels"))] == ["&__sentinel__:hello"]


def test_acl_dryrun_allows_what_sentinel_sends_and_nothing_dangerous(processes):
    port = free_port()
    start_data_node(processes, "node", port, primary=None)
    refused = [
        f"{' '.join(cmd)}: {reply}"
        for cmd, _ in SENTINEL_SENDS
        if (reply := call(port, "ACL", "DRYRUN", "sentinel", *cmd)) != "OK"
    ]
    assert not refused, "the sentinel role refuses what Sentinel sends:\n" + "\n".join(refused)
    allowed = [" ".join(cmd) for cmd in SENTINEL_MUST_NOT if call(port, "ACL", "DRYRUN", "sentinel", *cmd) == "OK"]
    assert not allowed, f"the sentinel role allows: {allowed}"
    for cmd in SENTINEL_MUST_NOT:
        assert "no permissions" in call(port, "ACL", "DRYRUN", "sentinel", *cmd), cmd
    # The same user logged in really is refused (DRYRUN is not the only judge).
    with pytest.raises(ReplyError, match="NOPERM"):
        call(port, "GET", "session:1", user="sentinel")
    assert call(port, "PING", user="sentinel") == "PONG"


# --------------------------------------------------------------------------
# live failover


def test_sentinel_failover_needs_nothing_beyond_the_sentinel_role(processes):
    """Primary + 2 replicas + 3 Sentinels from redis-conf/, a forced
    failover, and no ACL denial for `sentinel` or `replication` anywhere."""
    data_ports = [free_port() for _ in range(3)]
    nodes = [start_data_node(processes, "node-0", data_ports[0], primary=None)]
    nodes += [start_data_node(processes, f"node-{i}", data_ports[i], primary=data_ports[0]) for i in (1, 2)]
    for node in nodes[1:]:
        wait_for(lambda n=node: info(n.port, "replication").get("master_link_status") == "up",
                 f"{node.name} to sync as `replication`", node)
    sentinels = [start_sentinel(processes, f"sentinel-{i}", free_port(), data_ports[0]) for i in range(3)]
    everything = nodes + sentinels

    def sees_everyone(s: Proc) -> bool:
        master = pairs(call(s.port, "SENTINEL", "MASTER", MASTER_NAME))
        return master.get("num-slaves") == "2" and master.get("num-other-sentinels") == "2"

    for s in sentinels:
        wait_for(lambda s=s: sees_everyone(s), f"{s.name} to find 2 replicas and 2 Sentinels", procs=everything)
    # Sentinel really logs in to the data nodes as `sentinel`.
    for node in nodes:
        clients = call(node.port, "CLIENT", "LIST")
        assert "user=sentinel" in clients, f"{node.name}: no Sentinel connection as `sentinel`:\n{clients}"

    assert call(sentinels[0].port, "SENTINEL", "FAILOVER", MASTER_NAME) == "OK"

    def new_primary() -> int | None:
        ports = {int(call(s.port, "SENTINEL", "GET-MASTER-ADDR-BY-NAME", MASTER_NAME)[1]) for s in sentinels}
        return ports.pop() if len(ports) == 1 and data_ports[0] not in ports else None

    primary = wait_for(new_primary, "all Sentinels to agree on a new primary", procs=everything)
    assert primary in data_ports[1:]

    def converged() -> bool:
        roles = {n.port: try_call(n.port, "ROLE") for n in nodes}
        if any(r is None for r in roles.values()) or roles[primary][0] != "master":
            return False
        followers = [n for n in nodes if n.port != primary]
        return all(
            roles[n.port][0] == "slave" and roles[n.port][2] == primary and roles[n.port][3] == "connected"
            for n in followers
        )

    # The old primary is demoted (SLAVEOF + CONFIG REWRITE) and both follow.
    wait_for(converged, "the old primary and the other replica to follow the new primary", procs=everything)
    promoted = next(n for n in nodes if n.port == primary)
    assert not re.search(r"^replicaof ", promoted.conf.read_text(), re.M), "no CONFIG REWRITE on the promoted node"

    for node in nodes:
        found = denials(node.port)
        assert not found, f"{node.name}: ACL LOG denials for sentinel/replication: {found}"

    # The check has teeth: the same role without `config|rewrite` (live, on
    # every node) makes the next promotion fail, and ACL LOG says why.
    for node in nodes:
        assert call(node.port, "ACL", "SETUSER", "sentinel", "-config|rewrite") == "OK"
    wait_for(lambda: try_call(sentinels[1].port, "SENTINEL", "FAILOVER", MASTER_NAME) == "OK",
             "a second failover to be accepted", procs=everything)

    def denied_rewrite() -> list[dict]:
        return [e for n in nodes for e in denials(n.port, ("sentinel",)) if e.get("object") == "config|rewrite"]

    wait_for(denied_rewrite, "ACL LOG to show the refused CONFIG REWRITE", procs=everything)
