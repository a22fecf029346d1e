"""Edits inside Ray Data that stay safe under Ray's fault tolerance (extra ``inpaint-async[ray]``).

* :func:`edit_dataset` — edit every row of a ``ray.data.Dataset``; returns a Dataset of outcomes.
* :func:`coordinator_actor` / :class:`RayCoordinator` — the named, restartable async actor per
  wallet (or API key) and the :class:`~inpaint_async.coordination.Coordinator` over its handle,
  for your own Ray code: ``InpaintClient(coordinator=RayCoordinator(coordinator_actor(spender)))``.
* :class:`WorkerCredentials` — where workers read their credentials (environment or keystore).

See ``docs/cluster.md``.
"""

from __future__ import annotations

try:
    import ray as _ray  # noqa: F401
except ImportError as exc:  # pragma: no cover - depends on the environment
    raise ImportError("inpaint_async.ray needs Ray: pip install 'inpaint-async[ray]'") from exc

from ._actor import RayCoordinator, actor_name, coordinator_actor
from ._credentials import WorkerCredentials
from ._dataset import OUTCOME_COLUMNS, EditBatch, edit_dataset, outcome_row

__all__ = [
    "OUTCOME_COLUMNS",
    "EditBatch",
    "RayCoordinator",
    "WorkerCredentials",
    "actor_name",
    "coordinator_actor",
    "edit_dataset",
    "outcome_row",
]
