"""Joining Ray: this machine or a cluster, with the failures a user meets said in the sweep's words.

`check_address` looks at ``--address`` before the sweep file is read: a TCP connection to the head with a
short timeout, so an address where nothing listens is one line naming it, not minutes of Ray's retries.
`connect` starts Ray here or joins the cluster, and turns Ray's errors into `UsageError` lines: a cluster
that wants an authentication token gets the variables to set (Ray's token authentication,
``RAY_AUTH_MODE=token`` with ``RAY_AUTH_TOKEN`` or ``RAY_AUTH_TOKEN_PATH``), and Ray not installed names
the package and the install command. `ClusterLost` is raised when the cluster stops answering during the
run (a lost head node); the sweep then still writes the report of what finished. `quiet_tune` keeps Ray
Tune's own advice to call ``Tuner.restore`` out of the output: ``python -m sweep --resume`` is the way back.
Standard library only; Ray is imported inside the functions.
"""

from __future__ import annotations

import contextlib
import logging
import os
import socket
import sys
import tempfile
import threading
from collections.abc import Iterator

from eqprop.cli_support import UsageError

__all__ = ["CONNECT_TIMEOUT_S", "ClusterLost", "SweepStopped", "check_address", "connect", "import_ray", "quiet_tune",
           "watch_head"]

CONNECT_TIMEOUT_S = 5.0       # a head that does not accept a connection within this is not there
RAY_MISSING = ("the sweep runs its points on Ray Tune, which is not installed: pip install '.[sweep]' "
               "(or pip install 'ray[tune]')")
TOKEN_HINT = ("if the cluster uses token authentication, set RAY_AUTH_MODE=token and RAY_AUTH_TOKEN (or "
              "RAY_AUTH_TOKEN_PATH, e.g. ~/.ray/auth_token) to the token its head was started with")


class SweepStopped(RuntimeError):
    """Ray Tune ended the run in an error (exit 1); the finished points' records are kept."""


class ClusterLost(SweepStopped):
    """The Ray cluster stopped answering while the sweep ran (its head node or the connection is gone)."""


def _first(e: BaseException) -> str:
    text = str(e).strip()
    return text.splitlines()[0] if text else type(e).__name__


def check_address(address: str, *, timeout_s: float = CONNECT_TIMEOUT_S) -> None:
    """Refuse an ``--address`` that is empty, malformed, or where nothing accepts a connection."""
    if not address.strip():
        raise UsageError("--address must name a Ray cluster (host:port, ray://host:port or auto), not the empty "
                         "string; leave it out to run on this machine")
    if address in ("auto", "local"):
        return                   # Ray looks for the cluster itself; `connect` words its failure
    host, _, port = address.split("://", 1)[-1].rpartition(":")
    if not host or not port.isdigit() or not 0 < int(port) < 65536:
        raise UsageError(f"--address must be host:port, ray://host:port or auto, not {address!r}")
    try:
        socket.create_connection((host.strip("[]"), int(port)), timeout=timeout_s).close()
    except OSError as e:
        why = f"no answer within {timeout_s:g} s" if isinstance(e, TimeoutError) else (e.strerror or _first(e))
        raise UsageError(f"--address {address}: no Ray cluster answers there ({why}); start its head with "
                         "`ray start --head` or check the address") from None


def import_ray():
    """(ray, ray.tune), or UsageError naming the package and the install command."""
    try:
        import ray
        from ray import tune
    except ImportError:
        raise UsageError(RAY_MISSING) from None
    return ray, tune


def connect(ray, address: str | None, workers: int) -> None:
    """Start Ray on this machine with `workers` CPUs, or join the cluster at `address`."""
    if ray.is_initialized():
        return
    if not address:
        ray.init(num_cpus=workers, include_dashboard=False, log_to_driver=False, configure_logging=False)
        return
    auth = getattr(getattr(ray, "exceptions", None), "AuthenticationError", None)
    with tempfile.TemporaryFile() as log:
        try:
            with _stderr_into(log):      # Ray's C++ client logs every failed try (one a second) on stderr
                ray.init(address=address, log_to_driver=False, configure_logging=False)
        except Exception as e:           # ConnectionError, RuntimeError, Ray's own errors: all one line
            log.seek(0)
            said = log.read().decode(errors="replace")
            chain, c = [], e
            while c is not None and len(chain) < 10:
                chain.append(str(c))
                c = c.__cause__ or c.__context__
            text = " ".join([said, *chain])
            if auth is not None and isinstance(e, auth) or "Unauthenticated" in text or "AuthToken" in text:
                raise UsageError(f"--address {address}: the cluster refused this client's authentication; "
                                 f"{TOKEN_HINT}: Ray: {_first(e).rstrip('.')}") from None
            token_set = os.environ.get("RAY_AUTH_TOKEN") or os.environ.get("RAY_AUTH_TOKEN_PATH")
            hint = "" if token_set else f"; {TOKEN_HINT}"
            raise UsageError(f"--address {address}: cannot join the Ray cluster (is its head running, and the same "
                             f"Ray version?){hint}: Ray: {_first(e)}") from None
        log.seek(0)
        sys.stderr.write(log.read().decode(errors="replace"))     # joined: whatever Ray said is shown after all


@contextlib.contextmanager
def _stderr_into(f) -> Iterator[None]:
    """Send file descriptor 2 (where Ray's C++ code logs) into the open file `f` for the block."""
    sys.stderr.flush()
    saved = os.dup(2)
    os.dup2(f.fileno(), 2)
    try:
        yield
    finally:
        sys.stderr.flush()
        os.dup2(saved, 2)
        os.close(saved)


class _NoRestoreAdvice(logging.Filter):
    """Drops Ray Tune's "Resume experiment with: Tuner.restore(...)": the sweep's own --resume is the way back."""

    def filter(self, record: logging.LogRecord) -> bool:
        return "Tuner.restore" not in record.getMessage()


@contextlib.contextmanager
def quiet_tune() -> Iterator[None]:
    """While the Tuner runs, keep Ray Tune's advice to call ``Tuner.restore`` out of the output."""
    loggers = [logging.getLogger(n) for n in ("ray.tune.tune", "ray.tune", "ray.tune.impl.tuner_internal")]
    f = _NoRestoreAdvice()
    for lg in loggers:
        lg.addFilter(f)
    try:
        yield
    finally:
        for lg in loggers:
            lg.removeFilter(f)


def _head(ray, address: str) -> tuple[str, int] | None:
    """(host, port) to watch: the cluster's GCS (its head node), or the Ray Client server of a ray:// address."""
    text = address.split("://", 1)[-1] if address.startswith("ray://") else None
    if text is None:
        try:
            text = ray.get_runtime_context().gcs_address
        except Exception:        # an older Ray, or no context: nothing to watch
            return None
    host, _, port = (text or "").rpartition(":")
    return (host.strip("[]"), int(port)) if host and port.isdigit() else None


@contextlib.contextmanager
def watch_head(ray, address: str | None, on_lost, *, every_s: float = 2.0, misses: int = 3) -> Iterator[None]:
    """While the sweep runs on a cluster, connect to its head every `every_s` seconds from a daemon thread;
    after `misses` failures in a row call ``on_lost(address)`` once (it writes the report and ends the
    process). Does nothing on this machine's own Ray or without `on_lost`."""
    head = _head(ray, address) if address and on_lost is not None else None
    if head is None:
        yield
        return
    stop = threading.Event()

    def watch() -> None:
        failed = 0
        while not stop.wait(every_s):
            try:
                socket.create_connection(head, timeout=every_s).close()
                failed = 0
            except OSError:
                failed += 1
                if failed >= misses and not stop.is_set():
                    on_lost(address)
                    return

    thread = threading.Thread(target=watch, name="sweep-head-watch", daemon=True)
    thread.start()
    try:
        yield
    finally:
        stop.set()
