"""A client that vanishes mid-upload is not a server error."""

from __future__ import annotations

import asyncio
import logging

import pytest

from inpaint_async.testing import Emulator


async def test_client_gone_mid_upload_is_not_logged_as_an_emulator_error(
    caplog: pytest.LogCaptureFixture,
) -> None:
    """A killed client (half a multipart body, then EOF) leaves no traceback and no 500."""
    async with Emulator(max_output_side=64) as emu:
        reader, writer = await asyncio.open_connection(emu.host, emu.port)
        head = (
            "POST /api/v1/image/edit HTTP/1.1\r\n"
            f"Host: {emu.host}:{emu.port}\r\n"
            f"Authorization: Bearer {emu.api_key}\r\n"
            "Content-Type: multipart/form-data; boundary=XyZ\r\n"
            "Content-Length: 100000\r\n\r\n"
            '--XyZ\r\nContent-Disposition: form-data; name="prompt"\r\n'
        )
        with caplog.at_level(logging.ERROR, logger="inpaint_async"):
            writer.write(head.encode())
            await writer.drain()
            for _ in range(100):
                if emu.requests:
                    break
                await asyncio.sleep(0.01)
            writer.close()
            await writer.wait_closed()
            for _ in range(100):
                await asyncio.sleep(0.01)
                if emu.requests and emu.requests[0].status != 0:
                    break
        del reader
    assert [r.getMessage() for r in caplog.records if r.levelno >= logging.ERROR] == []
    assert len(emu.requests) == 1
    assert emu.requests[0].status == 0  # nobody to answer: recorded like a dropped connection
    assert emu.charges_for() == []
