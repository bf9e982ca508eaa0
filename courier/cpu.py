"""Run CPU-heavy work (bcrypt) off the event loop when serving under gevent.

bcrypt releases the GIL, so on a native thread it runs in parallel with the worker's greenlets; without
this, every login would freeze all requests of its gevent worker for ~250 ms. Those threads also run at
the lowest OS priority (nice 19), so during a login storm every other request still gets the CPU first,
while logins use whatever is left. Outside gevent it is a plain call.
"""

import os

from .config import setting

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
