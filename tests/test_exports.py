"""The front door: __all__ is sorted, complete and importable."""

from __future__ import annotations

import inpaint_async


def test_all_is_sorted() -> None:
    """__all__ is kept sorted so that diffs stay readable."""
    assert list(inpaint_async.__all__) == sorted(inpaint_async.__all__)


def test_all_is_complete() -> None:
    """Every public name defined at the top level is exported, and every export exists."""
    public = {n for n in vars(inpaint_async) if not n.startswith("_")}
    modules = {n for n in public if type(getattr(inpaint_async, n)).__name__ == "module"}
    assert set(inpaint_async.__all__) - {"__version__"} == public - modules
    for name in inpaint_async.__all__:
        assert hasattr(inpaint_async, name)
