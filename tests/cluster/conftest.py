"""One local Ray cluster per test module (a start costs 10-20 s), with a test wallet in the
environment the workers inherit."""

from __future__ import annotations

import io
import os
import warnings
from collections.abc import Iterator

import pytest
from PIL import Image

ray = pytest.importorskip("ray")

# A throwaway test key, built at run time; workers inherit it from the driver's environment.
WALLET_KEY = "0x" + "7c" * 32
NAMESPACE = "inpaint-async-tests"


def small_png(shade: int) -> bytes:
    """A 256x256 PNG (the smallest image the local checks accept), one shade per job."""
    buf = io.BytesIO()
    Image.new("RGB", (256, 256), (200, shade % 256, 40)).save(buf, format="PNG")
    return buf.getvalue()


@pytest.fixture(scope="module")
def ray_cluster() -> Iterator[None]:
    """A 2-CPU local cluster for the module; the wallet key is in the workers' environment."""
    saved = {k: os.environ.get(k) for k in ("VENICE_WALLET_KEY", "VENICE_API_KEY")}
    os.environ["VENICE_WALLET_KEY"] = WALLET_KEY
    os.environ.pop("VENICE_API_KEY", None)
    ray.init(
        num_cpus=2,
        include_dashboard=False,
        log_to_driver=False,
        namespace=NAMESPACE,
        configure_logging=False,
    )
    with warnings.catch_warnings():
        # Ray's own DataContext warns about its own deprecated defaults when first built.
        warnings.simplefilter("ignore", DeprecationWarning)
        ctx = ray.data.DataContext.get_current()
    ctx.enable_progress_bars = False
    ctx.print_on_execution_start = False
    try:
        yield
    finally:
        ray.shutdown()
        for key, value in saved.items():
            if value is None:
                os.environ.pop(key, None)
            else:
                os.environ[key] = value
