"""The image's HEALTHCHECK, by the role the container runs (container/entrypoint.sh writes it down).

api: /healthz answers on $PORT. worker: its metrics answer on $WORKER_METRICS_PORT (when that is 0, the
worker process being alive is all there is to check). Exit 0 healthy, 1 not.
"""

import os
import sys
import urllib.request

try:
    with open("/tmp/courier-role") as f:
        role = f.read().strip()
except OSError:
    role = "api"

if role == "worker":
    port = os.environ.get("WORKER_METRICS_PORT", "0")
    url = f"http://127.0.0.1:{port}/metrics" if port != "0" else None
elif role == "api":
    url = f"http://127.0.0.1:{os.environ.get('PORT', '5000')}/healthz"
else:
    url = None

if url is None:
    sys.exit(0)
try:
    with urllib.request.urlopen(url, timeout=2) as response:
        sys.exit(0 if response.status == 200 else 1)
except OSError as err:
    print(f"{url}: {err}", file=sys.stderr)
    sys.exit(1)
