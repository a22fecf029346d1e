"""Output folders of a batch: created once, swept once for a killed run's temp files.

A killed run can leave ``.<name>.<random>.part`` files next to its outputs (``output=`` streams
into one and renames it into place). Looking for them per job (a glob of the folder) costs time
proportional to the folder, so a batch writing n files into one folder did O(n²) work. Instead
each folder is scanned once, the first time a job writes into it, and the stale files are
indexed by the output name they belong to; each job then removes its own in O(1).
"""

from __future__ import annotations

import os
from pathlib import Path

from .._files import is_part_file_of

__all__ = ["OutputFolders"]

_SUFFIX = ".part"


def _owner(name: str) -> str | None:
    """The output name a temp file ``.<output>.<random>.part`` belongs to, else ``None``.

    Exact, as :func:`~inpaint_async._files.is_part_file_of` (no glob: ``photo[1].png`` never
    owns the temp file of ``photo1.png``).
    """
    if not (name.startswith(".") and name.endswith(_SUFFIX)):
        return None
    owner = name[1 : -len(_SUFFIX)].rpartition(".")[0]
    return owner if owner and is_part_file_of(name, owner) else None


class OutputFolders:
    """Prepares each job's output: its folder exists and no stale temp file of it is left."""

    def __init__(self) -> None:
        self._stale: dict[Path, dict[str, list[str]]] = {}

    def prepare(self, output: Path) -> None:
        """Create ``output``'s folder (once) and remove the temp files a killed run left for it.

        Raises:
            OSError: the folder cannot be created.
        """
        folder = output.parent
        stale = self._stale.get(folder)
        if stale is None:
            stale = self._stale[folder] = self._scan(folder)
        for name in stale.pop(output.name, ()):
            (folder / name).unlink(missing_ok=True)

    @staticmethod
    def _scan(folder: Path) -> dict[str, list[str]]:
        folder.mkdir(parents=True, exist_ok=True)
        found: dict[str, list[str]] = {}
        with os.scandir(folder) as entries:
            for entry in entries:
                owner = _owner(entry.name)
                if owner is not None:
                    found.setdefault(owner, []).append(entry.name)
        return found
