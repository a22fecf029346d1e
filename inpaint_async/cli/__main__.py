"""``python -m inpaint_async.cli``."""

from . import main

raise SystemExit(main())
