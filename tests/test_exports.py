"""The front door: __all__ is sorted, complete and importable."""

from __future__ import annotations

import inpaint_async


def test_all_is_sorted() -> None:
    """__all__ is kept sorted so that diffs stay readable."""
    assert list(inpaint_async.__all__) == sorted(inpaint_async.__all__)


def test_all_is_complete() -> None:
    """Every public name defined at the top level is exported, and every export exists."""
    public = {n for n in vars(inpaint_async) if not n.startswith("_")} | set(inpaint_async._LAZY)
    modules = {n for n in public if type(getattr(inpaint_async, n)).__name__ == "module"}
    assert set(inpaint_async.__all__) - {"__version__"} == public - modules
    for name in inpaint_async.__all__:
        assert hasattr(inpaint_async, name)


def test_batch_names_load_lazily() -> None:
    """The batch runner is importable from the front door without being loaded by the import."""
    import subprocess
    import sys

    code = (
        "import sys, inpaint_async; assert 'inpaint_async.batch' not in sys.modules; "
        "from inpaint_async import BatchRunner, EditJob; "
        "assert BatchRunner.__module__.startswith('inpaint_async.batch')"
    )
    subprocess.run([sys.executable, "-c", code], check=True)
    assert inpaint_async.EditJob is inpaint_async.batch.EditJob


def test_heavy_modules_load_on_first_use() -> None:
    """`import inpaint_async` loads neither aiohttp, tenacity, pydantic, eth-account nor x402."""
    import subprocess
    import sys

    code = (
        "import sys, inpaint_async\n"
        "heavy = ('aiohttp', 'tenacity', 'pydantic', 'eth_account', 'inpaint_async.x402', "
        "'inpaint_async.types.catalogue')\n"
        "loaded = [m for m in sys.modules if m.startswith(heavy)]\n"
        "assert not loaded, loaded\n"
        "from inpaint_async import EditResult, PaymentRailError, TopUpPolicy, Model\n"
        "assert issubclass(PaymentRailError, inpaint_async.InpaintError)\n"
        "assert 'pydantic' in sys.modules\n"
    )
    subprocess.run([sys.executable, "-c", code], check=True)
