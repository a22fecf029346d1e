"""File helpers shared by the inputs, the transport and the batch runner (no aiohttp).

:func:`open_regular` opens a path without ever blocking the event loop on a FIFO; temp files of
``output=`` are named ``.<output>.<8 random characters>.part`` and :func:`is_part_file_of` matches
them exactly.
"""

from __future__ import annotations

import io
import os
import re
import stat
import threading
import weakref
from typing import IO

__all__ = [
    "is_part_file_of",
    "open_regular",
    "open_regular_fd",
    "open_regular_sized",
    "position_lock",
    "read_at",
    "read_fd",
]


def open_regular_fd(path: str | os.PathLike[str]) -> tuple[int, int]:
    """Open a regular file for reading without ever blocking: ``(fd, size)``, the descriptor
    still non-blocking (which a regular file ignores). The caller closes it.

    ``O_NONBLOCK`` makes opening a FIFO return at once instead of waiting for a writer; the
    ``fstat`` then refuses it (and devices, sockets) with ``IsADirectoryError`` for a folder and
    ``OSError(EINVAL)`` for anything else that is not a regular file.
    """
    fd = os.open(path, _FLAGS)
    try:
        st = os.fstat(fd)
        if stat.S_ISDIR(st.st_mode):
            raise IsADirectoryError(21, "Is a directory", str(path))
        if not stat.S_ISREG(st.st_mode):
            raise OSError(22, "not a regular file", str(path))
    except BaseException:
        os.close(fd)
        raise
    return fd, st.st_size


def open_regular(path: str | os.PathLike[str]) -> IO[bytes]:
    """Open a file for reading without ever blocking, and only if it is a regular file
    (see :func:`open_regular_fd`); the file object is blocking."""
    return open_regular_sized(path)[0]


def open_regular_sized(path: str | os.PathLike[str]) -> tuple[IO[bytes], int]:
    """:func:`open_regular`, with the size its ``fstat`` found: ``(file, size)``."""
    fd, size = open_regular_fd(path)
    try:
        if _FLAGS & _NONBLOCK:
            os.set_blocking(fd, True)
    except BaseException:
        os.close(fd)
        raise
    return os.fdopen(fd, "rb"), size


def read_fd(fd: int, first: int, limit: int) -> bytes:
    """Read ``fd`` from its position to its end, at most ``limit`` bytes, asking for ``first``
    bytes first: one ``read(2)`` of the expected size, one more to see the end."""
    data = os.read(fd, first)
    while len(data) < limit:
        more = os.read(fd, limit - len(data))
        if not more:
            break
        data += more
    return data


def read_at(fh: IO[bytes], offset: int, size: int) -> bytes:
    """Up to ``size`` bytes of ``fh`` from ``offset`` (fewer only at its end), safe while other
    tasks or threads read the same object.

    Several edits may upload one open file at once (one image, many prompts). A file opened
    from disk (a ``FileIO``, or a buffered reader over one) is read with ``pread``, which moves
    no shared position (the caller's position is left where it was); any other object seeks
    and reads under its :func:`position_lock`.
    """
    # Only a plain file's descriptor holds what read() returns: bz2 and lzma files, say, give
    # the descriptor of their compressed bytes.
    raw = getattr(fh, "raw", fh)
    if _HAS_PREAD and isinstance(raw, io.FileIO) and not raw.closed:
        fd = raw.fileno()
        data = os.pread(fd, size, offset)
        while data and len(data) < size:  # a short read that is not the end (rare)
            more = os.pread(fd, size - len(data), offset + len(data))
            if not more:
                break
            data += more
        return data
    with position_lock(fh):
        fh.seek(offset)
        return fh.read(size)


def position_lock(fh: object) -> threading.Lock:
    """The lock that makes a seek and the reads after it one step for ``fh``, across threads."""
    with _LOCKS_GUARD:
        try:
            lock = _LOCKS.get(fh)
            if lock is None:
                lock = _LOCKS[fh] = threading.Lock()
        except TypeError:  # not weak-referenceable (or unhashable): one lock for all such objects
            lock = _SHARED_LOCK
        return lock


_HAS_PREAD = hasattr(os, "pread")  # not on Windows
_LOCKS: weakref.WeakKeyDictionary[object, threading.Lock] = weakref.WeakKeyDictionary()
_LOCKS_GUARD = threading.Lock()
_SHARED_LOCK = threading.Lock()

_NONBLOCK = getattr(os, "O_NONBLOCK", 0)
_FLAGS = os.O_RDONLY | _NONBLOCK | getattr(os, "O_CLOEXEC", 0)

_PART_RANDOM = re.compile(r"[a-z0-9_]{8}")


def is_part_file_of(name: str, output_name: str) -> bool:
    """Whether ``name`` is a temp file :func:`_stream_to_temp` ``inpaint_async._transport`` made for
    ``output_name``.

    Exact matching, no glob: ``photo[1].png`` must not match the temp file of ``photo1.png``,
    and ``*`` must not match every job's.
    """
    prefix = f".{output_name}."
    if not (name.startswith(prefix) and name.endswith(".part")):
        return False
    return bool(_PART_RANDOM.fullmatch(name[len(prefix) : -len(".part")]))
