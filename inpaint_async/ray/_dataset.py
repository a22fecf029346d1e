"""``edit_dataset``: paid edits inside Ray Data, gated by the coordinator actor's journal."""

from __future__ import annotations

import hashlib
import json
import os
import secrets
from collections.abc import Mapping
from dataclasses import dataclass, field
from decimal import Decimal
from pathlib import Path
from typing import TYPE_CHECKING, Any

import ray

from .._exceptions import ConfigurationError
from ..batch._jobs import EditJob, _output_name
from ..coordination import spender_of
from ..spend._policy import TopUpPolicy, to_usd
from ._actor import RayCoordinator, coordinator_actor
from ._credentials import WorkerCredentials

if TYPE_CHECKING:
    from .._retry import RetryPolicy
    from ..batch import JobOutcome

__all__ = ["OUTCOME_COLUMNS", "edit_dataset", "outcome_row"]

#: The columns of the Dataset ``edit_dataset`` returns, one row per input row.
OUTCOME_COLUMNS = (
    "job_id",
    "status",
    "output",
    "reason",
    "error_type",
    "request_id",
    "cost_usd",
    "elapsed",
)


def outcome_row(outcome: JobOutcome) -> dict[str, Any]:
    """A :class:`~inpaint_async.batch.JobOutcome` as a Dataset row (text and numbers only)."""
    return {
        "job_id": outcome.job_id,
        "status": outcome.status,
        "output": str(outcome.output),
        "reason": outcome.reason or "",
        "error_type": type(outcome.error).__name__ if outcome.error is not None else "",
        "request_id": outcome.request_id or "",
        "cost_usd": str(outcome.cost_usd) if outcome.cost_usd is not None else "",
        "elapsed": float(outcome.elapsed),
    }


@dataclass(frozen=True)
class _Config:
    """Everything a worker needs, and nothing secret (it travels in Ray's task arguments)."""

    credentials: WorkerCredentials
    actor: Any  # the coordinator actor's handle (a handle names the actor; no secret)
    base_url: str | None
    out_dir: str
    prompt: str | None
    params: dict[str, Any] = field(default_factory=dict)
    top_up: TopUpPolicy | None = None
    budget_usd: Decimal | None = None
    journal: str | None = None
    run_id: str | None = None
    rerun_unknown: bool = False
    retry: RetryPolicy | None = None
    job_concurrency: int | str = "auto"


def _value(row: Mapping[str, Any], key: str) -> Any:
    value = row.get(key)
    if value is None:
        return None
    if hasattr(value, "item") and not isinstance(value, bytes | str):
        value = value.item()  # a numpy scalar
    if isinstance(value, float) and value != value:  # NaN: pandas' missing value
        return None
    return value


def _job(row: Mapping[str, Any], config: _Config) -> EditJob:
    """One row (``image``, optional ``prompt``, ``output``, ``params``, ``id``) as a job."""
    image = _value(row, "image")
    if image is None:
        raise ConfigurationError("the row has no 'image'")
    if isinstance(image, bytearray | memoryview):
        image = bytes(image)
    params_value = _value(row, "params")
    if isinstance(params_value, str):
        params_value = json.loads(params_value) if params_value.strip() else {}
    params = {**config.params, **(dict(params_value) if params_value else {})}
    params = {k: v for k, v in params.items() if v is not None}
    out_dir = Path(config.out_dir)
    output = _value(row, "output")
    job_id = _value(row, "id")
    if output:
        output_path = Path(str(output))
        if not output_path.is_absolute():
            output_path = out_dir / output_path
    else:
        if job_id is not None:
            stem = str(job_id)
        elif isinstance(image, bytes):
            stem = hashlib.sha256(image).hexdigest()[:16]
        else:
            stem = Path(str(image)).stem
        output_path = out_dir / _output_name(stem, params)
    if isinstance(image, str) and not image.lower().startswith(("http://", "https://", "data:")):
        image = Path(image)
    prompt = _value(row, "prompt") or config.prompt
    if not prompt:
        raise ConfigurationError("the row has no 'prompt' and edit_dataset has no prompt=")
    return EditJob(
        image=image,
        prompt=str(prompt),
        params=params,
        output=output_path,
        id=str(job_id) if job_id is not None else None,
    )


class EditBatch:
    """The async callable class ``edit_dataset`` maps over the Dataset (one per Ray worker).

    It reads the credentials from the worker's environment in ``__init__`` (never from its
    arguments), finds the coordinator actor by name, and edits each batch with
    ``client.batch(..., coordinator=...)``: every job is claimed from the actor's journal right
    before it is sent.
    """

    def __init__(self, config: _Config) -> None:
        self._config = config
        self._auth = config.credentials.load()
        self._coordinator = RayCoordinator(
            config.actor, journal=config.journal, run_id=config.run_id
        )

    async def __call__(self, batch: Mapping[str, Any]) -> dict[str, list[Any]]:
        from .._client import InpaintClient
        from ..batch import JobOutcome

        columns = list(batch)
        size = len(batch[columns[0]]) if columns else 0
        rows = [{name: batch[name][i] for name in columns} for i in range(size)]
        results: list[dict[str, Any] | None] = [None] * size
        jobs: list[EditJob] = []
        index: dict[int, int] = {}
        for i, row in enumerate(rows):
            try:
                job = _job(row, self._config)
            except (ConfigurationError, ValueError) as exc:
                results[i] = {
                    **dict.fromkeys(OUTCOME_COLUMNS, ""),
                    "status": "failed",
                    "reason": f"invalid row: {exc}",
                    "error_type": type(exc).__name__,
                    "elapsed": 0.0,
                }
                continue
            index[id(job)] = i
            jobs.append(job)
        config = self._config
        async with InpaintClient(
            auth=self._auth,
            base_url=config.base_url,
            top_up=config.top_up,
            retry=config.retry,
            coordinator=self._coordinator,
        ) as client:
            runner = client.batch(
                jobs,
                budget_usd=config.budget_usd,
                rerun_unknown=config.rerun_unknown,
                concurrency=config.job_concurrency,
            )
            async for outcome in runner:
                results[index[id(outcome.job)]] = outcome_row(outcome)
            stopped = runner.summary.stopped_reason
        for job in jobs:
            i = index[id(job)]
            if results[i] is None:
                skipped = JobOutcome(
                    job, job.id or "", "skipped", reason=f"not started: {stopped or 'stopped'}"
                )
                results[i] = outcome_row(skipped)
        return {name: [r[name] for r in results if r is not None] for name in OUTCOME_COLUMNS}


def edit_dataset(
    ds: Any,
    *,
    prompt: str | None = None,
    out_dir: str | os.PathLike[str],
    auth: WorkerCredentials | None = None,
    top_up: TopUpPolicy | None = None,
    budget_usd: Decimal | int | str | float | None = None,
    journal: str | os.PathLike[str] | None,
    concurrency: int = 2,
    batch_size: int = 16,
    base_url: str | None = None,
    params: Mapping[str, Any] | None = None,
    rerun_unknown: bool = False,
    retry: RetryPolicy | None = None,
    num_cpus: float = 0.25,
    udf: type[EditBatch] = EditBatch,
) -> Any:
    """Edit every row of a Ray Dataset; returns a Dataset of job outcomes (lazy, like any Dataset).

    Each row names an image like a manifest line: ``image`` (a path the workers can read, a
    URL, or bytes), and optionally ``prompt``, ``output`` (relative to ``out_dir``), ``params``
    (a dict or JSON text) and ``id``. Each output row has :data:`OUTCOME_COLUMNS`: the same
    outcome as ``client.batch`` (``succeeded``, ``failed``, ``outcome_unknown``, ``skipped``).

    One coordinator actor per wallet (or API key) is shared by every worker: at most the
    wallet's in-flight cap across the cluster, one rate window, one top-up at a time, one
    budget, and one journal whose claims decide whether a job may be sent — so a block Ray
    re-executes after a worker died never re-sends a job journalled ``sent``, ``unknown`` or
    ``succeeded``.

    Args:
        ds: The ``ray.data.Dataset``.
        prompt: The default prompt (a row's ``prompt`` wins).
        out_dir: Where outputs go (a path every worker can write).
        auth: Where workers read credentials (:class:`WorkerCredentials`); default: the
            variables a client reads (``VENICE_API_KEY``, else the wallet variables). A key or
            an auth object is refused: it would be pickled into Ray's task arguments.
        top_up: A ``TopUpPolicy`` (wallets): one top-up at a time across the cluster.
        budget_usd: A budget across every worker (jobs' estimated prices are reserved from it).
        journal: The run's journal file, on a path the coordinator actor can reach (required:
            pass ``None`` explicitly to keep it in the actor's memory only).
        concurrency: Ray workers (the actor pool's size).
        batch_size: Rows per batch handed to a worker.
        base_url: The API root (default: ``VENICE_BASE_URL`` in the driver, else Venice's).
        params: Default edit parameters (a row's ``params`` win).
        rerun_unknown: Also run jobs journalled ``unknown`` or ``sent`` (they may have been
            charged already).
        retry: The workers' ``RetryPolicy``.
        num_cpus: CPUs each worker reserves (edits wait on the network: a fraction is enough).
        udf: The callable class (a subclass of :class:`EditBatch`) mapped over the batches.

    Raises:
        ConfigurationError: credentials given as a key or auth object, or none in the driver's
            environment to name the coordinator by.
    """
    if auth is None:
        auth = WorkerCredentials.from_env()
    if not isinstance(auth, WorkerCredentials):
        raise ConfigurationError(
            "edit_dataset takes auth=WorkerCredentials(...): credentials reach Ray workers "
            "through their environment or a keystore path, never through pickled arguments"
        )
    if isinstance(concurrency, bool) or not isinstance(concurrency, int) or concurrency < 1:
        raise ConfigurationError("concurrency must be a positive number of workers")
    budget = to_usd(budget_usd, "budget_usd") if budget_usd is not None else None
    if budget is not None and budget <= 0:
        raise ConfigurationError("budget_usd must be positive")
    if not ray.is_initialized():
        ray.init()
    # The driver reads the credentials once, only to name the coordinator (address / key id).
    spender = spender_of(auth.load())
    handle = coordinator_actor(spender, namespace=ray.get_runtime_context().namespace)
    if base_url is None:
        base_url = os.environ.get("VENICE_BASE_URL") or None
    config = _Config(
        credentials=auth,
        actor=handle,
        base_url=base_url,
        out_dir=os.fspath(Path(out_dir).resolve()),
        prompt=prompt,
        params=dict(params or {}),
        top_up=top_up,
        budget_usd=budget,
        journal=os.fspath(Path(journal).resolve()) if journal is not None else None,
        run_id=secrets.token_hex(8),
        rerun_unknown=rerun_unknown,
        retry=retry,
    )
    return ds.map_batches(
        udf,
        fn_constructor_kwargs={"config": config},
        batch_size=batch_size,
        batch_format="numpy",
        compute=ray.data.ActorPoolStrategy(size=concurrency),
        num_cpus=num_cpus,
    )
