"""`make image-test`: build the image with podman and run it against this machine's MariaDB and Redis.

It checks /readyz, a login and a placed order through the container, the metrics, the HEALTHCHECK, that the
processes run as non-root, that SIGTERM stops the API and the worker within 10 s, and compose.yaml with
`podman-compose config`. It never skips: when podman cannot run, it fails and says why. Everything it
creates is removed at the end (containers, images, networks, the CNI bridge and iptables chains: a diff of
before and after), except the cached base image (container/base-image.sh).
"""

import hashlib
import json
import os
import re
import shlex
import shutil
import subprocess
import time
import urllib.error
import urllib.request
import uuid
from pathlib import Path

import pymysql
import pytest
import redis
from prometheus_client.parser import text_string_to_metric_families

from courier import db as dbmod
from courier.config import from_env

ROOT = Path(__file__).resolve().parent.parent
RUN_ID = uuid.uuid4().hex[:8]
IMAGE = f"localhost/courier-tracking:test-{RUN_ID}"
NAME = f"courier-test-{RUN_ID}"
DB_NAME = f"courier_image_{RUN_ID}"
JWT_SECRET = "image-test-secret-" + "s" * 40
METRICS_TOKEN = "image-test-metrics-token"
STOP_WITHIN_SECONDS = 10
TIMINGS = {}


def run(*args, check=True, timeout=600, env=None, **kwargs):
    result = subprocess.run(
        args, capture_output=True, text=True, timeout=timeout, env=env or os.environ, cwd=ROOT, **kwargs
    )
    if check and result.returncode != 0:
        pytest.fail(
            f"{' '.join(args)} exited {result.returncode}:\n{result.stdout[-3000:]}\n{result.stderr[-3000:]}"
        )
    return result


def podman(*args, **kwargs):
    return run("podman", *args, **kwargs)


CNI_STATE = ("/var/lib/cni/networks", "/run/containers/cni/dnsname")


def network_state():
    """What podman's networking leaves on the host: links, iptables rules and chains, podman networks, and
    the CNI plugins' state folders (IP leases, dnsname's dnsmasq configuration)."""
    links = set(re.findall(r"^\d+: ([^:@]+)", run("ip", "-o", "link", "show").stdout, re.M))
    rules = {
        table: set(run("iptables", "-t", table, "-S").stdout.splitlines()) for table in ("filter", "nat")
    }
    networks = set(podman("network", "ls", "--format", "{{.Name}}").stdout.split())
    state = {str(p) for folder in CNI_STATE if Path(folder).is_dir() for p in Path(folder).iterdir()}
    return links, rules, networks, state


def podman_cleanups_running():
    """podman's own `container cleanup` processes (conmon starts one when a container exits): they tear
    down the container's network after the fact, so the host is diffed only once they are done."""
    found = False
    for cmdline in Path("/proc").glob("[0-9]*/cmdline"):
        try:
            args = cmdline.read_bytes().split(b"\0")
        except OSError:
            continue
        found = found or (b"podman" in args[0] and b"cleanup" in args)
    return found


def restore_network_state(before):
    """Remove what podman added since `before`: networks, rules, then chains, bridges and CNI state."""
    links0, rules0, networks0, state0 = before
    deadline = time.monotonic() + 20
    while podman_cleanups_running() and time.monotonic() < deadline:
        time.sleep(0.5)  # another process's cleanup, not a clock
    for network in set(podman("network", "ls", "--format", "{{.Name}}").stdout.split()) - networks0:
        podman("network", "rm", "-f", network, check=False)
    for table in ("nat", "filter"):
        added = set(run("iptables", "-t", table, "-S").stdout.splitlines()) - rules0[table]
        chains = [rule.split()[1] for rule in added if rule.startswith("-N ")]
        for rule in sorted(r for r in added if r.startswith("-A ") and r.split()[1] not in chains):
            run("iptables", "-t", table, "-D", *shlex.split(rule)[1:], check=False)
        for chain in chains:
            run("iptables", "-t", table, "-F", chain, check=False)
        for chain in chains:
            run("iptables", "-t", table, "-X", chain, check=False)
    links1, _, _, state1 = network_state()
    for link in links1 - links0:
        if link.startswith(("cni-", "podman", "veth")):
            run("ip", "link", "delete", link, check=False)
    for path in state1 - state0:
        shutil.rmtree(path, ignore_errors=True)
    left = network_state()
    assert left[0] - links0 == set(), f"links left behind: {left[0] - links0}"
    for table in ("filter", "nat"):
        assert left[1][table] - rules0[table] == set(), (
            f"iptables {table} left: {left[1][table] - rules0[table]}"
        )
    assert left[2] - networks0 == set(), f"podman networks left: {left[2] - networks0}"
    assert left[3] - state0 == set(), f"CNI state left: {left[3] - state0}"


@pytest.fixture(scope="module")
def podman_env():
    """CONTAINERS_CONF for these machines, and proof that podman can run a container at all."""
    for tool in ("podman", "debootstrap", "iptables", "ip"):
        if shutil.which(tool) is None:
            pytest.fail(
                f"{tool} is not installed: `make podman` installs Debian's podman, buildah, runc, debootstrap"
            )
    conf = run("container/containers-conf.sh").stdout.strip()
    os.environ["CONTAINERS_CONF"] = conf
    info = podman("info", "--format", "{{.Host.OCIRuntime.Name}}", check=False)
    if info.returncode != 0:
        pytest.fail(f"podman cannot run here: {info.stderr.strip()}")
    assert info.stdout.strip() == "runc", info.stdout
    return conf


@pytest.fixture(scope="module")
def image(podman_env):
    """Build the image (base image from the cache), and remove it and every dangling layer afterwards."""
    dangling_before = set(podman("images", "-q", "--filter", "dangling=true").stdout.split())
    net_before = network_state()
    started = time.monotonic()
    run("container/build.sh", env={**os.environ, "IMAGE": IMAGE}, timeout=1200)
    TIMINGS["build_s"] = round(time.monotonic() - started, 1)
    TIMINGS["image_mb"] = round(int(podman("image", "inspect", "--format", "{{.Size}}", IMAGE).stdout) / 1e6)
    yield IMAGE
    for cid in podman("ps", "-aq", "--filter", f"name={NAME}").stdout.split():
        podman("rm", "-f", cid, check=False)
    for volume in podman("volume", "ls", "-q", "--filter", f"name={NAME}").stdout.split():
        podman("volume", "rm", "-f", volume, check=False)
    podman("rmi", "-f", IMAGE, check=False)
    for dangling in set(podman("images", "-q", "--filter", "dangling=true").stdout.split()) - dangling_before:
        podman("rmi", "-f", dangling, check=False)
    restore_network_state(net_before)
    print(f"\nimage test: {json.dumps(TIMINGS)}")


@pytest.fixture(scope="module")
def database():
    """A throwaway database on this machine's MariaDB, dropped at the end (never courier1)."""
    config = {**from_env(), "MYSQL_DB": DB_NAME}
    assert DB_NAME != "courier1"
    yield config
    conn = pymysql.connect(**dbmod.connect_args(config, database=False))
    with conn.cursor() as cur:
        cur.execute(f"DROP DATABASE IF EXISTS `{DB_NAME}`")
    conn.close()
    client = redis.Redis.from_url("redis://127.0.0.1:6379/0")
    for key in client.scan_iter(f"*courier-image-{RUN_ID}*"):
        client.delete(key)
    client.close()


def container_env(database, **extra):
    settings = {
        "MYSQL_HOST": database["MYSQL_HOST"],
        "MYSQL_PORT": database["MYSQL_PORT"],
        "MYSQL_USER": database["MYSQL_USER"],
        "MYSQL_PASSWORD": database["MYSQL_PASSWORD"],
        "MYSQL_DB": DB_NAME,
        "JWT_SECRET_KEY": JWT_SECRET,
        "REDIS_URL": "redis://127.0.0.1:6379/0",
        "LOGIN_LIMIT_KEY_PREFIX": f"courier-image-{RUN_ID}",
        "METRICS_TOKEN": METRICS_TOKEN,
        "WEB_CONCURRENCY": "2",
        "DB_POOL_SIZE": "5",
        **extra,
    }
    return [arg for key, value in settings.items() for arg in ("-e", f"{key}={value}")]


def free_port():
    import socket

    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def http(method, url, body=None, token=None, timeout=10):
    headers = {"Content-Type": "application/json"} if body is not None else {}
    if token:
        headers["Authorization"] = f"Bearer {token}"
    data = json.dumps(body).encode() if body is not None else None
    request = urllib.request.Request(url, data=data, method=method, headers=headers)
    try:
        with urllib.request.urlopen(request, timeout=timeout) as response:
            return response.status, response.read().decode(), response.headers
    except urllib.error.HTTPError as err:
        return err.code, err.read().decode(), err.headers


def wait_for(url, container, seconds=60):
    deadline = time.monotonic() + seconds
    last = None
    while time.monotonic() < deadline:
        try:
            status, body, _ = http("GET", url, timeout=2)
            if status == 200:
                return
            last = f"{status} {body}"
        except OSError as err:
            last = str(err)
        state = podman("inspect", "--format", "{{.State.Status}}", container).stdout.strip()
        if state not in ("running", "created", "configured"):
            pytest.fail(f"{container} is {state}:\n{podman('logs', container, check=False).stderr[-4000:]}")
        time.sleep(0.5)  # polling a starting container: there is no clock to inject across processes
    pytest.fail(
        f"{url} did not answer 200 within {seconds}s ({last}):\n{podman('logs', container).stderr[-4000:]}"
    )


def stop_with_sigterm(container):
    """SIGTERM, then the seconds until the container has exited, and its exit code."""
    started = time.monotonic()
    podman("kill", "--signal", "TERM", container)
    code = podman("wait", container, timeout=60).stdout.strip()
    return time.monotonic() - started, int(code)


def parse_metrics(text):
    return {
        (sample.name, frozenset(sample.labels.items())): sample.value
        for family in text_string_to_metric_families(text)
        for sample in family.samples
    }


def test_image_runs_the_api_and_the_worker(image, database):
    inspect = json.loads(podman("image", "inspect", image).stdout)[0]
    assert inspect["Config"]["User"] == "10001:10001"
    assert "/healthz" in (ROOT / "container" / "healthcheck.py").read_text()
    assert inspect.get("Healthcheck", {}).get("Test"), "HEALTHCHECK lost: build with --format docker"
    assert inspect["Config"]["Entrypoint"][0] == "/usr/bin/tini"
    # Every Python package in the image is pinned in requirements.txt, at that version.
    pins = {
        line.split("==")[0].lower().replace("_", "-"): line.split("==")[1]
        for line in (ROOT / "requirements.txt").read_text().splitlines()
        if "==" in line and not line.startswith("#")
    }
    frozen = podman("run", "--rm", "--entrypoint", "python3", image, "-m", "pip", "--version", check=False)
    assert frozen.returncode != 0, "pip is removed from the runtime image"
    listed = podman(
        "run",
        "--rm",
        "--entrypoint",
        "python3",
        image,
        "-c",
        "import importlib.metadata as m; print('\\n'.join(f'{d.name}=={d.version}' for d in m.distributions()))",
    ).stdout.split()
    for line in listed:
        name, version = line.split("==")
        assert pins.get(name.lower().replace("_", "-")) == version, (
            f"{line} is not pinned in requirements.txt"
        )

    # init-db: schema and demo data into the throwaway database, then the container exits 0.
    started = time.monotonic()
    out = podman(
        "run",
        "--rm",
        "--network",
        "host",
        "--name",
        f"{NAME}-init",
        *container_env(database),
        image,
        "init-db",
    )
    assert f"Database {DB_NAME} is ready (demo data loaded)." in out.stdout, out.stdout + out.stderr

    # The API: gunicorn with two gevent workers, on a free port of the host's network.
    port = free_port()
    api = f"{NAME}-api"
    podman("run", "-d", "--network", "host", "--name", api, *container_env(database, PORT=port), image, "api")
    base = f"http://127.0.0.1:{port}"
    wait_for(f"{base}/readyz", api)
    TIMINGS["api_ready_s"] = round(time.monotonic() - started, 1)
    assert podman("exec", api, "id", "-u").stdout.strip() == "10001"
    processes = podman("top", api, "user", "args").stdout
    assert "gunicorn" in processes and "root" not in processes, processes
    assert podman("healthcheck", "run", api, check=False).returncode == 0  # no systemd: run it by hand

    status, body, _ = http("POST", f"{base}/login", {"email": "alice@example.com", "password": "customer123"})
    assert status == 200, body
    token = json.loads(body)["token"]
    order = {
        "delivery_address": "1 Container Road",
        "recipient_name": "Ivy Image",
        "description": "from podman",
    }
    status, body, _ = http("POST", f"{base}/customer/place-order", order, token)
    assert status == 201, body
    order_id = json.loads(body)["order"]["order_id"]
    conn = pymysql.connect(**dbmod.connect_args(database))
    with conn.cursor() as cur:
        cur.execute("SELECT status, recipient_name FROM orders WHERE order_id = %s", (order_id,))
        assert cur.fetchone() == {"status": "Pending", "recipient_name": "Ivy Image"}
    conn.close()

    # Metrics: off without the token, summed over both gunicorn workers with it.
    assert http("GET", f"{base}/metrics")[0] == 401
    for _ in range(6):
        http("GET", f"{base}/healthz")
    status, body, headers = http("GET", f"{base}/metrics", token=METRICS_TOKEN)
    assert status == 200 and headers["Content-Type"].startswith("text/plain"), body
    samples = parse_metrics(body)
    login = frozenset({"method": "POST", "route": "/login", "status": "200"}.items())
    assert samples[("courier_http_requests_total", login)] == 1
    health = frozenset({"method": "GET", "route": "/healthz", "status": "200"}.items())
    assert samples[("courier_http_requests_total", health)] >= 6
    assert samples[("courier_metrics_database_up", frozenset())] == 1
    assert samples[("courier_db_pool_size", frozenset())] == 10  # 2 workers x DB_POOL_SIZE 5

    # SIGTERM: tini hands it to gunicorn, which stops its workers and exits 0, within seconds.
    seconds, code = stop_with_sigterm(api)
    TIMINGS["api_sigterm_stop_s"] = round(seconds, 2)
    assert code == 0, podman("logs", api).stderr[-3000:]
    assert seconds < STOP_WITHIN_SECONDS

    # The worker: its metrics on their port, the HEALTHCHECK, and SIGTERM.
    metrics_port = free_port()
    work = f"{NAME}-worker"
    podman(
        "run",
        "-d",
        "--network",
        "host",
        "--name",
        work,
        *container_env(database, WORKER_METRICS_PORT=metrics_port, WORKER_METRICS_HOST="127.0.0.1"),
        image,
        "worker",
    )
    wait_for(f"http://127.0.0.1:{metrics_port}/metrics", work)
    assert podman("healthcheck", "run", work, check=False).returncode == 0
    status, body, _ = http("GET", f"http://127.0.0.1:{metrics_port}/metrics")
    samples = parse_metrics(body)
    assert samples[("courier_worker_last_poll_timestamp_seconds", frozenset())] > 0
    assert (
        "courier_outbox_messages",
        frozenset({"channel": "email", "status": "pending"}.items()),
    ) in samples
    assert podman("exec", work, "id", "-u").stdout.strip() == "10001"
    seconds, code = stop_with_sigterm(work)
    TIMINGS["worker_sigterm_stop_s"] = round(seconds, 2)
    assert code == 0, podman("logs", work).stderr[-3000:]
    assert seconds < STOP_WITHIN_SECONDS
    TIMINGS["run_checks_s"] = round(time.monotonic() - started, 1)


def test_compose_file_is_valid(tmp_path):
    """`podman-compose config` (PyPI's: Debian's 1.0.3 has no config command) on compose.yaml + .env.example."""
    shutil.copy(ROOT / "compose.yaml", tmp_path / "compose.yaml")
    env = (ROOT / ".env.example").read_text()
    env = re.sub(r"(?m)^MYSQL_PASSWORD=.*$", "MYSQL_PASSWORD=compose-test", env)
    (tmp_path / ".env").write_text(re.sub(r"(?m)^JWT_SECRET_KEY=.*$", f"JWT_SECRET_KEY={JWT_SECRET}", env))
    compose = Path(os.environ.get("VIRTUAL_ENV", ROOT / ".venv")) / "bin" / "podman-compose"
    if not compose.exists():
        compose = ROOT / ".venv" / "bin" / "podman-compose"
    result = subprocess.run(
        [str(compose), "-f", "compose.yaml", "config"],
        capture_output=True,
        text=True,
        cwd=tmp_path,
        # Only the .env file here configures it (the test process has loaded the project's own .env).
        env={"PATH": os.environ["PATH"], "HOME": os.environ.get("HOME", "/root")},
        timeout=60,
    )
    assert result.returncode == 0, result.stdout + result.stderr
    import yaml

    config = yaml.safe_load(result.stdout)
    services = config["services"]
    assert set(services) == {"mariadb", "redis", "init-db", "api", "worker"}
    assert services["mariadb"]["image"].startswith("docker.io/library/mariadb:")
    assert services["redis"]["image"].startswith("docker.io/library/redis:")
    for name in ("mariadb", "redis", "api", "worker"):
        assert services[name]["healthcheck"]["test"], name
    assert services["init-db"]["command"][0] == "init-db"
    assert services["api"]["depends_on"]["init-db"]["condition"] == "service_completed_successfully"
    assert services["init-db"]["depends_on"]["mariadb"]["condition"] == "service_healthy"
    assert set(config["volumes"]) >= {"mariadb-data", "redis-data"}
    assert services["mariadb"]["environment"]["MARIADB_PASSWORD"] == "compose-test"
    assert services["api"]["environment"]["HOST"] == "0.0.0.0"
    assert services["api"]["environment"]["MYSQL_HOST"] == "mariadb"


STANDINS = {"MARIADB_IMAGE": "mariadb", "REDIS_IMAGE": "redis"}


@pytest.fixture(scope="module")
def standins(image):
    """MariaDB and Redis images built from Debian's packages (the official ones cannot be pulled here).

    Kept between runs like the base image (they are caches), tagged with a hash of their files so a change
    rebuilds them; older tags of the same stand-in are removed.
    """
    folder = ROOT / "container" / "standins"
    digest = hashlib.sha256()
    for path in sorted(folder.iterdir()):
        digest.update(path.name.encode() + path.read_bytes())
    version = digest.hexdigest()[:12]
    tags = {}
    for key, name in STANDINS.items():
        repository = f"localhost/courier-standin-{name}"
        tag = tags[key] = f"{repository}:{version}"
        if podman("image", "exists", tag, check=False).returncode != 0:
            podman(
                "build",
                "--format",
                "docker",
                "--pull=never",
                "--network",
                "host",
                "-f",
                str(folder / f"{name}.Dockerfile"),
                "-t",
                tag,
                str(folder),
                timeout=900,
            )
        listed = podman("images", "--format", "{{.Repository}}:{{.Tag}}", repository).stdout.split()
        for old in set(listed) - {tag}:
            podman("rmi", "-f", old, check=False)
    return tags


def compose_env_file(folder, **settings):
    env = (ROOT / ".env.example").read_text()
    settings = {"MYSQL_PASSWORD": "compose-test", "JWT_SECRET_KEY": JWT_SECRET, **settings}
    for key, value in settings.items():
        env, found = re.subn(rf"(?m)^{key}=.*$", f"{key}={value}", env)
        if not found:
            env += f"\n{key}={value}\n"
    (folder / ".env").write_text(env)


def test_compose_stack_comes_up(image, standins, tmp_path):
    """compose.yaml brought up with podman-compose: MariaDB and Redis (the Debian stand-ins), init-db, api,
    worker. podman 4.3 cannot wait for `service_healthy` (podman-compose ignores the condition below podman
    4.6) and has no systemd to run health checks, so the test takes the depends_on steps itself: databases,
    `podman healthcheck run` until healthy, init-db until it exits 0, then api and worker (--no-deps)."""
    shutil.copy(ROOT / "compose.yaml", tmp_path / "compose.yaml")
    port = free_port()
    compose_env_file(
        tmp_path,
        METRICS_TOKEN=METRICS_TOKEN,
        COURIER_IMAGE=image,
        API_PORT=port,
        BCRYPT_LOG_ROUNDS=4,
        **standins,
    )
    project = f"{NAME}-compose"
    env = {
        "PATH": os.environ["PATH"],
        "HOME": os.environ.get("HOME", "/root"),
        "CONTAINERS_CONF": os.environ["CONTAINERS_CONF"],
    }

    def compose(*args, check=True, timeout=300):
        result = subprocess.run(
            [str(ROOT / ".venv" / "bin" / "podman-compose"), "-p", project, *args],
            capture_output=True,
            text=True,
            cwd=tmp_path,
            env=env,
            timeout=timeout,
        )
        if check and result.returncode != 0:
            pytest.fail(
                f"podman-compose {' '.join(args)} exited {result.returncode}:\n{result.stdout[-3000:]}\n{result.stderr[-3000:]}"
            )
        return result

    def healthy(container, seconds=90):
        deadline = time.monotonic() + seconds
        while time.monotonic() < deadline:
            if podman("healthcheck", "run", container, check=False).returncode == 0:
                return
            time.sleep(1)  # waiting for another process to become healthy
        pytest.fail(
            f"{container} never became healthy:\n{podman('logs', container, check=False).stderr[-3000:]}"
        )

    started = time.monotonic()
    try:
        compose("up", "-d", "--no-build", "mariadb", "redis")
        healthy(f"{project}_mariadb_1")
        healthy(f"{project}_redis_1")
        compose("up", "-d", "--no-build", "--no-deps", "init-db")
        code = podman("wait", f"{project}_init-db_1", timeout=120).stdout.strip()
        assert code == "0", podman("logs", f"{project}_init-db_1").stderr[-3000:]
        compose("up", "-d", "--no-build", "--no-deps", "api", "worker")
        base = f"http://127.0.0.1:{port}"
        wait_for(f"{base}/readyz", f"{project}_api_1")
        healthy(f"{project}_api_1")
        healthy(f"{project}_worker_1")
        TIMINGS["compose_up_s"] = round(time.monotonic() - started, 1)

        # No demo data (init-db --no-seed): a new customer signs up, logs in and places an order.
        account = {
            "name": "Cora Compose",
            "email": "cora@example.com",
            "password": "password123",
            "address": "2 St",
        }
        assert http("POST", f"{base}/signup", account)[0] == 201
        status, body, _ = http(
            "POST", f"{base}/login", {"email": account["email"], "password": account["password"]}
        )
        assert status == 200, body
        order = {"delivery_address": "3 Compose Lane", "recipient_name": "Rex"}
        status, body, _ = http("POST", f"{base}/customer/place-order", order, json.loads(body)["token"])
        assert status == 201, body
        status, body, _ = http("GET", f"{base}/metrics", token=METRICS_TOKEN)
        samples = parse_metrics(body)
        assert samples[("courier_metrics_database_up", frozenset())] == 1
        assert (
            samples[("courier_outbox_messages", frozenset({"channel": "email", "status": "pending"}.items()))]
            == 0
        )
        # The MariaDB data lives in the named volume.
        volumes = podman("volume", "ls", "--format", "{{.Name}}").stdout.split()
        assert f"{project}_mariadb-data" in volumes and f"{project}_redis-data" in volumes
    finally:
        compose("down", "-v", "-t", "10", check=False)
    assert podman("ps", "-aq", "--filter", f"name={project}").stdout.strip() == ""
    assert not [v for v in podman("volume", "ls", "-q").stdout.split() if v.startswith(project)]
