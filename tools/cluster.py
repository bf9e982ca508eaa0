"""`make cluster` / `make cluster-stop`: HAProxy in front of two gunicorn nodes and two notification workers.

Everything runs on loopback and shares one MySQL database and one Redis (rate limits, login lockouts), which is
all the state the app has, so any node can answer any request:

    client -> HAProxy :CLUSTER_PORT (default 8080)
                -> node1 gunicorn :5001 ─┐
                -> node2 gunicorn :5002 ─┼─ MySQL (MYSQL_HOST) + Redis (REDIS_URL)
              worker1, worker2 (flask worker, outbox claims with SKIP LOCKED) ─┘

HAProxy checks GET /readyz on each node every second, retries idempotent requests (GET, HEAD, OPTIONS) on the
other node when a node dies under them (`retry-on` + `option redispatch`), and never re-sends a POST/PATCH that
reached a node (it may have committed there; place-order takes an Idempotency-Key for client retries).

The processes are started in their own sessions; their ids, the HAProxy configuration and the logs are kept in
the run directory (.cluster/ by default), which `python -m tools.cluster stop` reads.
"""

import argparse
import json
import os
import shutil
import signal
import socket
import subprocess
import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
HAPROXY_LOG_FORMAT = "%HM %HU %s %ST %ts %rc"  # method, path, server, status, termination state, retries


def haproxy_config(port, nodes, stats_socket, check_every="1s"):
    """HAProxy's configuration: one frontend on `port`, the nodes {name: port} as one backend."""
    servers = "\n".join(f"    server {name} 127.0.0.1:{node_port} check" for name, node_port in nodes.items())
    return f"""global
    maxconn 4096
    log stdout format raw local0
    stats socket {stats_socket} mode 600 level admin

defaults
    mode http
    log global
    log-format "{HAPROXY_LOG_FORMAT}"
    option forwardfor
    # Clients keep their connections; each request opens its own connection to a node (cheap on a LAN),
    # so a request sent after a node died meets a refused connection and goes to another node, instead of
    # being written into a dead kept-alive connection and failing.
    option http-server-close
    timeout connect 2s
    timeout client 60s
    # longer than SSE_HEARTBEAT_SECONDS, so an idle live stream is not cut
    timeout server 60s
    timeout http-keep-alive 5s
    timeout queue 10s
    # A request whose node fails before answering goes to another node: a refused connection for any
    # request, and (below) an empty or cut answer for idempotent requests only.
    retries 3
    option redispatch 1
    retry-on conn-failure empty-response response-timeout

frontend api
    bind 127.0.0.1:{port}
    http-request disable-l7-retry unless METH_GET || METH_HEAD || METH_OPTIONS
    default_backend nodes

backend nodes
    balance leastconn
    option httpchk GET /readyz
    http-check expect status 200
    # A node that does not answer /readyz 3 times in a row is taken out (a refused connection shows at once);
    # a slow answer under load (up to 5 s) still counts as up, so a busy node is not dropped.
    timeout check 5s
    default-server inter {check_every} fall 3 rise 1
    http-response set-header X-Served-By %[srv_name]
{servers}
"""


def free_port():
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def _bin(name):
    path = ROOT / ".venv" / "bin" / name
    return str(path) if path.exists() else name


def haproxy_binary():
    return shutil.which("haproxy") or ("/usr/sbin/haproxy" if Path("/usr/sbin/haproxy").exists() else None)


class Cluster:
    """The processes of one cluster; `env` is added to each one's environment."""

    def __init__(self, run_dir, port, node_ports=None, workers=2, env=None, check_every="1s"):
        self.run_dir = Path(run_dir)
        self.port = port
        node_ports = node_ports or [free_port(), free_port()]
        self.nodes = {f"node{i}": p for i, p in enumerate(node_ports, 1)}
        self.workers = [f"worker{i}" for i in range(1, workers + 1)]
        self.env = {**os.environ, "PYTHONUNBUFFERED": "1", **(env or {})}
        self.check_every = check_every
        self.procs = {}  # name -> Popen (only in the process that started them)

    @property
    def url(self):
        return f"http://127.0.0.1:{self.port}"

    @property
    def stats_socket(self):
        return self.run_dir / "haproxy.sock"

    def _spawn(self, name, argv, env=None):
        log = open(self.run_dir / f"{name}.log", "ab")  # noqa: SIM115 - the child keeps it open
        proc = subprocess.Popen(
            argv,
            cwd=ROOT,
            env={**self.env, **(env or {})},
            stdout=log,
            stderr=subprocess.STDOUT,
            start_new_session=True,  # its own process group: kill_node() ends a node's master and workers
        )
        log.close()
        self.procs[name] = proc
        return proc

    def start_node(self, name):
        port = self.nodes[name]
        env = {"HOST": "127.0.0.1", "PORT": str(port)}
        env.setdefault("WEB_CONCURRENCY", self.env.get("WEB_CONCURRENCY") or "1")
        return self._spawn(name, [_bin("gunicorn"), "-c", "gunicorn.conf.py"], env)

    def start_worker(self, name):
        return self._spawn(name, [_bin("flask"), "--app", "app1", "worker", "--name", name])

    def start_haproxy(self):
        config = self.run_dir / "haproxy.cfg"
        config.write_text(haproxy_config(self.port, self.nodes, self.stats_socket, self.check_every))
        binary = haproxy_binary()
        check = subprocess.run([binary, "-c", "-q", "-f", str(config)], capture_output=True, text=True)
        if check.returncode:
            raise RuntimeError(f"haproxy rejected {config}:\n{check.stdout}{check.stderr}")
        return self._spawn("haproxy", [binary, "-db", "-f", str(config)])

    def start(self, timeout=60):
        """Start the nodes, the workers and HAProxy; return once HAProxy sees every node up."""
        self.run_dir.mkdir(parents=True, exist_ok=True)
        if haproxy_binary() is None:
            raise RuntimeError(
                "haproxy is not installed: run `apt-get install haproxy` as root (or `make cluster`)"
            )
        try:
            for name in self.nodes:
                self.start_node(name)
            for name in self.workers:
                self.start_worker(name)
            self.start_haproxy()
            self.save()
            self.wait_up(timeout)
        except BaseException:
            self.stop()
            raise
        return self

    def save(self):
        state = {
            "port": self.port,
            "nodes": self.nodes,
            "pids": {name: proc.pid for name, proc in self.procs.items()},
        }
        (self.run_dir / "cluster.json").write_text(json.dumps(state, indent=2))

    def _exited(self):
        return {name: proc.returncode for name, proc in self.procs.items() if proc.poll() is not None}

    def wait_up(self, timeout=60, names=None):
        """Wait until HAProxy reports the named nodes (all by default) UP."""
        names = set(names or self.nodes)
        deadline = time.monotonic() + timeout
        status = {}
        while time.monotonic() < deadline:
            exited = self._exited()
            if exited:
                raise RuntimeError(f"exited during start: {exited}; logs in {self.run_dir}")
            try:
                status = self.server_status()
            except OSError:
                status = {}
            if all(status.get(name) == "UP" for name in names):
                return status
            time.sleep(0.2)
        raise RuntimeError(f"nodes not up after {timeout} s: {status}; logs in {self.run_dir}")

    def stats(self):
        """HAProxy's `show stat` for the backend's servers: {name: {column: value}}."""
        text = haproxy_command(self.stats_socket, "show stat")
        lines = [line for line in text.splitlines() if line.strip()]
        header = lines[0].lstrip("# ").split(",")
        rows = {}
        for line in lines[1:]:
            row = dict(zip(header, line.split(","), strict=False))
            if row.get("pxname") == "nodes" and row.get("svname") in self.nodes:
                rows[row["svname"]] = row
        return rows

    def server_status(self):
        return {name: row["status"].split()[0] for name, row in self.stats().items()}

    def kill_node(self, name, sig=signal.SIGKILL):
        """End a node's whole process group at once (its gunicorn master and workers): a crash."""
        proc = self.procs[name]
        os.killpg(proc.pid, sig)
        proc.wait(timeout=10)
        # The workers die with their master, but not in the same instant: the node is gone once its port
        # refuses connections (until then a connection could still land in a dying worker's backlog).
        deadline = time.monotonic() + 10
        while time.monotonic() < deadline:
            try:
                socket.create_connection(("127.0.0.1", self.nodes[name]), timeout=0.2).close()
            except OSError:
                return
            time.sleep(0.02)

    def stop(self):
        stop_processes({name: proc.pid for name, proc in self.procs.items() if proc.poll() is None})
        for proc in self.procs.values():
            try:
                proc.wait(timeout=15)
            except subprocess.TimeoutExpired:
                pass
        self.stats_socket.unlink(missing_ok=True)


def haproxy_command(path, command):
    with socket.socket(socket.AF_UNIX, socket.SOCK_STREAM) as sock:
        sock.settimeout(2)
        sock.connect(str(path))
        sock.sendall(command.encode() + b"\n")
        chunks = []
        while chunk := sock.recv(65536):
            chunks.append(chunk)
    return b"".join(chunks).decode()


def _alive(pid):
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True
    # a zombie (exited, not yet reaped by its parent) counts as gone
    try:
        return Path(f"/proc/{pid}/stat").read_text().split(") ", 1)[1][0] != "Z"
    except (OSError, IndexError):
        return True


def _ours(pid):
    """Whether pid is still a process this project started (ids are reused once a process is gone)."""
    try:
        cmdline = Path(f"/proc/{pid}/cmdline").read_bytes().replace(b"\0", b" ").decode(errors="replace")
    except OSError:
        return False
    return any(word in cmdline for word in ("gunicorn", "haproxy", "flask", "app1"))


def stop_processes(pids, timeout=15):
    """SIGTERM each process group (the process and its children), SIGKILL what is left after `timeout`."""
    pids = {name: pid for name, pid in pids.items() if _alive(pid) and _ours(pid)}
    for pid in pids.values():
        try:
            os.killpg(pid, signal.SIGTERM)
        except ProcessLookupError:
            pass
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline and any(_alive(pid) for pid in pids.values()):
        time.sleep(0.1)
    for pid in pids.values():
        if _alive(pid):
            try:
                os.killpg(pid, signal.SIGKILL)
            except ProcessLookupError:
                pass
    return list(pids)


def check_redis(url):
    """Fail with a clear message when the Redis that nodes must share does not answer."""
    import redis

    try:
        redis.Redis.from_url(url, socket_connect_timeout=2, socket_timeout=2).ping()
    except redis.RedisError as err:
        raise SystemExit(
            f"Redis at {url} does not answer ({err}). The nodes share rate limits and login lockouts through it:\n"
            "start it (Debian: `apt-get install redis-server && service redis-server start`) or set REDIS_URL."
        ) from None


def main(argv=None):
    parser = argparse.ArgumentParser(prog="python -m tools.cluster", description=__doc__.split("\n")[0])
    parser.add_argument("command", choices=("start", "stop", "status"))
    parser.add_argument("--run-dir", default=str(ROOT / ".cluster"))
    parser.add_argument("--port", type=int, default=int(os.environ.get("CLUSTER_PORT") or 8080))
    parser.add_argument("--node-ports", default=os.environ.get("CLUSTER_NODE_PORTS") or "5001,5002")
    parser.add_argument("--workers", type=int, default=2)
    args = parser.parse_args(argv)
    run_dir = Path(args.run_dir)
    state_file = run_dir / "cluster.json"

    if args.command == "stop":
        if not state_file.exists():
            print(f"No cluster running from {run_dir}.")
            return 0
        state = json.loads(state_file.read_text())
        stopped = stop_processes(state["pids"])
        state_file.unlink()
        (run_dir / "haproxy.sock").unlink(missing_ok=True)
        print(f"Stopped {len(stopped)} process(es): {', '.join(stopped) or 'none were running'}.")
        return 0

    if args.command == "status":
        if not state_file.exists():
            print(f"No cluster running from {run_dir}.")
            return 1
        state = json.loads(state_file.read_text())
        for name, pid in state["pids"].items():
            print(f"{name:8} pid {pid:7} {'running' if _alive(pid) else 'gone'}")
        return 0

    if state_file.exists():
        state = json.loads(state_file.read_text())
        if any(_alive(pid) and _ours(pid) for pid in state["pids"].values()):
            raise SystemExit(f"A cluster is already running from {run_dir}: `make cluster-stop` first.")
    from dotenv import load_dotenv

    load_dotenv(ROOT / ".env")
    env = {
        "REDIS_URL": os.environ.get("REDIS_URL") or "redis://127.0.0.1:6379/0",
        # behind HAProxy: the client address is the last X-Forwarded-For entry
        "TRUSTED_PROXIES": os.environ.get("TRUSTED_PROXIES") or "1",
    }
    check_redis(env["REDIS_URL"])
    cluster = Cluster(
        run_dir, args.port, [int(p) for p in args.node_ports.split(",")], workers=args.workers, env=env
    )
    try:
        cluster.start()
    except RuntimeError as err:
        raise SystemExit(str(err)) from None
    print(
        f"Cluster up: {cluster.url} (HAProxy) -> " + ", ".join(f"{n} :{p}" for n, p in cluster.nodes.items())
    )
    print(
        f"Workers: {', '.join(cluster.workers)}. Logs and pids in {run_dir}/. Stop with `make cluster-stop`."
    )
    return 0


if __name__ == "__main__":
    sys.exit(main())
