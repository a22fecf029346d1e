"""The ``inpaint-async`` command line (needs the ``cli`` extra: ``pip install 'inpaint-async[cli]'``).

Commands: ``edit``, ``batch``, ``models``, ``balance``, ``top-up``, ``emulate``, ``demo``,
``report``. See
``docs/cli.md`` for each, and for the exit codes.
"""

from __future__ import annotations

import sys
from collections.abc import Sequence

__all__ = ["main"]


def main(argv: Sequence[str] | None = None) -> int:
    """Run ``inpaint-async``; return the exit code (the console script exits with it)."""
    try:
        from ._app import main as app_main
    except ImportError as exc:  # rich or Pillow missing
        print(
            f"inpaint-async needs the cli extra ({exc.name} is missing): "
            "pip install 'inpaint-async[cli]'",
            file=sys.stderr,
        )
        return 1
    return app_main(argv)
