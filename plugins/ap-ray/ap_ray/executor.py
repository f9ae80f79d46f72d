"""The `ray` executor: the items of a batch on Ray actors that each load the model once.

Each actor builds one `SeparateWorker` (the core's, the same code the local executor runs) and keeps it: the
model loads on the actor's first input the cache does not serve, never per file. An actor runs the whole step
of an item (decode, resample, separate, write) because the core's engine streams a file chunk by chunk: a
decoded file shipped between processes would cost memory in proportion to its length. Outputs are written
atomically by the worker straight into the output folder, which every node must see (a shared file system).

Items stream from the driver: at most one per actor is in flight, so a manifest of 100,000 files never sits in
the driver's memory. Actors restart when killed (`max_restarts=-1`) and Ray re-runs the item that was on them
(`max_task_retries`, 3 unless AP_RAY_TASK_RETRIES says); an item that kills its actor every time fails after
that many tries, alone.

Default: a local Ray instance started for the run (listening on 127.0.0.1 only) and stopped after it;
`--address auto` or `--address HOST:PORT` joins a running cluster and leaves it running.
"""

from __future__ import annotations

import logging
import os
import socket
from collections.abc import Iterator
from typing import TYPE_CHECKING, Any

from audio_playground.errors import UsageError

if TYPE_CHECKING:
    from audio_playground.executors.batch import BatchContext
    from audio_playground.specs import WorkItem

LOOPBACK = "127.0.0.1"
LOCAL_ENV = {"RAY_ENABLE_WINDOWS_OR_OSX_CLUSTER": "0"}
"""Without it, Ray binds some listeners to every interface even when told 127.0.0.1 (checked with `ss -ltnp`)."""
CONNECT_ENV = {
    "RAY_gcs_rpc_server_connect_timeout_s": "5",
    "RAY_py_gcs_connect_timeout_s": "5",
    "RAY_gcs_server_port_wait_time_s": "5",
}
"""Ray waits minutes for an unreachable cluster by default; a batch wants one clear line within seconds."""
RETRIES_ENV = "AP_RAY_TASK_RETRIES"
"""How many more times Ray runs an item whose worker died mid-item (default 3)."""
FORWARDED_PREFIX = "AUDIO_PLAYGROUND_"


class RayWorker:  # pragma: no cover - runs in Ray's worker processes (the tests check what it returns)
    """A Ray actor holding one worker of the batch's task (a SeparateWorker, ...) for the whole batch."""

    def __init__(self, task: Any) -> None:
        import ray

        node = ray.get_runtime_context().get_node_id()
        self.worker = task.worker(label=f"ray:{node}:{os.getpid()}")

    def run(self, item: WorkItem) -> dict[str, Any]:
        return self.worker(item)


def check_reachable(address: str, timeout: float = 3.0) -> None:
    """HOST:PORT must accept a connection now: otherwise one line naming it (exit 2), not minutes of retries."""
    host, _, port = address.rpartition(":")
    if not host or not port.isdigit():
        raise UsageError(
            f"--address {address!r} is not HOST:PORT", hint="use auto, or the address `ray start --head` printed"
        )
    try:
        with socket.create_connection((host.strip("[]"), int(port)), timeout=timeout):
            pass
    except OSError as exc:
        raise UsageError(
            f"cannot reach a Ray cluster at {address} ({exc.strerror or exc})",
            hint="start one with `ray start --head`, or fix --address",
        ) from exc


def connect(address: str | None) -> bool:
    """Start a local instance (address None) or join `address`; True when this call connected (so disconnect)."""
    import ray

    if ray.is_initialized():
        return False
    for name, value in LOCAL_ENV.items():
        os.environ.setdefault(name, value)
    if address is None:
        ray.init(
            address="local",
            include_dashboard=False,
            log_to_driver=False,
            logging_level=logging.WARNING,
            _node_ip_address=LOOPBACK,
        )
        return True
    if address != "auto" and not address.startswith("ray://"):
        check_reachable(address)
    for name, value in CONNECT_ENV.items():
        os.environ.setdefault(name, value)
    try:
        ray.init(address=address, log_to_driver=False, logging_level=logging.WARNING)
    except (ConnectionError, RuntimeError, ValueError) as exc:
        first = str(exc).strip().splitlines()[0] if str(exc).strip() else type(exc).__name__
        raise UsageError(
            f"cannot join the Ray cluster at {address}: {first}", hint="start one with `ray start --head`"
        ) from exc
    return True


def plan(task: Any, workers: int | None, resources: dict[str, float]) -> tuple[int, float, float]:
    """(workers, num_cpus, num_gpus) per actor: one worker per CPU (or GPU on a GPU device) unless -j says.

    More workers than the cluster has slots ask for fractions of a slot, so that every actor starts: a pool of
    whole-CPU actors on a 2-CPU machine would wait forever for the third.
    """
    gpus = float(resources.get("GPU", 0.0))
    cpus = float(resources.get("CPU", 1.0)) or 1.0
    on_gpu = task.uses_gpu or (task.device == "auto" and gpus > 0)
    slots = gpus if on_gpu and gpus > 0 else cpus
    count = workers or max(1, int(slots))
    share = min(1.0, slots / count)
    if on_gpu and gpus > 0:
        return count, min(1.0, cpus / count), share
    return count, share, 0.0


def _forwarded_env() -> dict[str, str]:
    """The driver's AUDIO_PLAYGROUND_* settings (the same plugins, the same settings) and its CPU thread count.

    Ray would set OMP_NUM_THREADS to each actor's CPU share; a model's results on the CPU depend on its thread
    count, so actors use the count a run on the driver would (its OMP_NUM_THREADS, else its usable CPUs):
    the stems are then byte-identical to the local executor's.
    """
    env = {k: v for k, v in os.environ.items() if k.startswith(FORWARDED_PREFIX)}
    env["OMP_NUM_THREADS"] = os.environ.get("OMP_NUM_THREADS") or str(len(os.sched_getaffinity(0)))
    return env


def run(ctx: BatchContext, items: Iterator[WorkItem]) -> Iterator[dict[str, Any]]:
    """ExecutorSpec.run of `ray`."""
    import ray
    from ray.exceptions import RayError

    from audio_playground.executors.batch import failed_record

    connected = connect(ctx.address)
    actors: list[Any] = []
    try:
        count, num_cpus, num_gpus = plan(ctx.task, ctx.workers, ray.cluster_resources())
        retries = int(os.environ.get(RETRIES_ENV, "3"))
        actor_class = ray.remote(RayWorker).options(
            num_cpus=num_cpus,
            num_gpus=num_gpus,
            max_restarts=-1,
            max_task_retries=retries,
            runtime_env={"env_vars": _forwarded_env()},
        )
        actors = [actor_class.remote(ctx.task) for _ in range(count)]
        idle = list(actors)
        flying: dict[Any, tuple[Any, WorkItem]] = {}

        def collect() -> Iterator[dict[str, Any]]:
            done, _ = ray.wait(list(flying), num_returns=1)
            for ref in done:
                actor, item = flying.pop(ref)
                idle.append(actor)
                try:
                    yield ray.get(ref)
                except RayError as exc:
                    cause = str(exc).strip().splitlines()[0] if str(exc).strip() else ""
                    error = f"{item.input}: its Ray worker died ({retries + 1} tries; {type(exc).__name__}: {cause})"
                    yield failed_record(ctx.task, item, error, worker="ray")

        for item in items:
            while not idle:
                yield from collect()
            actor = idle.pop()
            flying[actor.run.remote(item)] = (actor, item)
        while flying:
            yield from collect()
    finally:
        for actor in actors:
            ray.kill(actor)
        if connected:
            ray.shutdown()
