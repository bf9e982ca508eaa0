"""Run CPU-heavy work (bcrypt) off the event loop when serving under gevent.

bcrypt releases the GIL, so on a native thread it runs in parallel with the worker's greenlets; without
this, every login would freeze all requests of its gevent worker for ~250 ms. Those threads also run at
the lowest OS priority (nice 19), so during a login storm every other request still gets the CPU first,
while logins use whatever is left. Outside gevent it is a plain call.
"""

import os

from .config import setting
from .errors import ApiError

_pool = None


def _gevent_active():
    try:
        from gevent import monkey
    except ImportError:
        return False
    return monkey.is_module_patched("socket")


def _lower_priority():
    """Drop this native thread (only) to nice 19; Linux applies setpriority to a thread id."""
    from gevent.monkey import get_original

    get_native_id = get_original("_thread", "get_native_id")
    try:
        os.setpriority(os.PRIO_PROCESS, get_native_id(), 19)
    except (OSError, AttributeError):
        pass


def _niced(fn, args):
    _lower_priority()
    return fn(*args)


def run(fn, *args):
    """Call fn(*args) on a low-priority native thread under gevent, directly otherwise."""
    global _pool
    if not _gevent_active():
        return fn(*args)
    if _pool is None:
        from gevent.threadpool import ThreadPool

        _pool = ThreadPool(setting("BCRYPT_THREADS"))
    return _pool.apply(_niced, (fn, args))


# Unauthenticated hashing (sign-ups) takes turns: at most this many at once per process, so a sign-up flood
# queues behind itself and logins of real users still get the bcrypt threads. A sign-up that cannot start
# within SIGNUP_WAIT_SECONDS answers 503 (retry later).
UNAUTHENTICATED_AT_ONCE = 1
SIGNUP_WAIT_SECONDS = 5
_unauthenticated = None


def run_unauthenticated(fn, *args):
    """fn(*args) once no more than UNAUTHENTICATED_AT_ONCE other unauthenticated hashes run in this process."""
    global _unauthenticated
    import threading  # patched by gevent under gunicorn: then a greenlet-aware semaphore

    if _unauthenticated is None:
        _unauthenticated = threading.BoundedSemaphore(UNAUTHENTICATED_AT_ONCE)
    if not _unauthenticated.acquire(timeout=SIGNUP_WAIT_SECONDS):
        raise ApiError(
            503, "Too many sign-ups at once; retry shortly", "busy", retry_after=SIGNUP_WAIT_SECONDS
        )
    try:
        return fn(*args)
    finally:
        _unauthenticated.release()
