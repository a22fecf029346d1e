"""The agent's file sandbox: inputs are read from ``--in-dir`` only, outputs written to ``--out-dir``.

An agent names files with strings it may have been tricked into writing, so every name is checked
before anything is opened or sent: no ``..`` component, no NUL byte, and the fully resolved path
(every symlink followed) must stay inside the folder. The input file is then opened with
``O_NOFOLLOW``, so a last-moment swap of the file for a symlink is refused too. Images may also
come inline (a ``data:`` URI or raw base64, decoded here into bytes: never taken for a path) or as
an ``http(s)://`` URL that the API fetches itself.
"""

from __future__ import annotations

import base64
import binascii
import os
import re
import secrets
import time
from pathlib import Path, PurePath
from typing import IO

from .._exceptions import ValidationError

__all__ = ["MAX_INLINE_BYTES", "Sandbox", "SandboxError", "Source"]

#: A checked image: a sandbox file, inline bytes, or a URL the API fetches.
Source = Path | bytes | str

#: Largest inline (base64 or data URI) image, decoded: larger images go through ``--in-dir``.
MAX_INLINE_BYTES = 8 * 1024 * 1024

_B64_RE = re.compile(r"^[A-Za-z0-9+/\s]+={0,2}$")
_NAME_RE = re.compile(r"^[A-Za-z0-9][A-Za-z0-9._ -]{0,150}$")
_FORMATS = {"png": "png", "jpeg": "jpg", "jpg": "jpg", "webp": "webp"}


#: How base64 of a PNG, JPEG, WebP or HEIC/AVIF file begins.
_B64_IMAGE_HEADS = ("iVBORw0KGgo", "/9j/", "UklGR", "AAAA")


def _looks_base64(text: str) -> bool:
    """Raw base64 rather than a file name: base64 characters only, and an image's first bytes
    (or longer than any sensible file name). Such a string is decoded, never opened as a path."""
    if len(text) < 64 or not _B64_RE.match(text[:8192]):
        return False
    return text.startswith(_B64_IMAGE_HEADS) or len(text) > 1024


class SandboxError(ValidationError):
    """A path names something outside the sandbox folders; nothing was opened or sent."""


class Sandbox:
    """The two folders an agent may use: one to read images from, one to write results to.

    Args:
        in_dir: Folder inputs are read from (must exist).
        out_dir: Folder results are written to (created when missing).
    """

    def __init__(self, in_dir: str | os.PathLike[str], out_dir: str | os.PathLike[str]) -> None:
        in_path = Path(in_dir).expanduser()
        if not in_path.is_dir():
            raise ValidationError(f"--in-dir {in_path} is not a folder", param="in_dir")
        out_path = Path(out_dir).expanduser()
        out_path.mkdir(parents=True, exist_ok=True)
        self.in_dir = in_path.resolve(strict=True)
        self.out_dir = out_path.resolve(strict=True)

    # -- inputs ---------------------------------------------------------------------------------

    def image(self, value: str, *, param: str = "image") -> Source:
        """Check an agent's image argument and say what will be sent; nothing is opened yet.

        Returns the resolved :class:`~pathlib.Path` of a sandbox file, the decoded bytes of an
        inline image, or the URL string of an ``http(s)://`` URL.

        Raises:
            SandboxError: The path is outside ``--in-dir`` (or is a symlink leaving it).
            ValidationError: Bad inline data, too large, or no such file.
        """
        text = value.strip()
        head = text[:16].lower()
        if head.startswith(("http://", "https://")):
            return text
        if head.startswith("data:"):
            meta, sep, payload = text.partition(",")
            if not sep or ";base64" not in meta.lower():
                raise ValidationError(f"{param}: a data URI must be base64-encoded", param=param)
            return self._decode(payload, param)
        if _looks_base64(text):
            return self._decode(text, param)
        return self.input_path(text, param=param)

    def materialize(self, source: Source, files: list[IO[bytes]]) -> bytes | IO[bytes] | str:
        """What the SDK sends for ``source``: a sandbox file is opened now (and added to
        ``files``, which the caller closes), refusing a symlink swapped in since the check."""
        if not isinstance(source, Path):
            return source
        fh = self.open_input(str(source))
        files.append(fh)
        return fh

    @staticmethod
    def describe(value: str) -> str:
        """A short, safe description of an image argument for messages and confirmations."""
        text = value.strip()
        head = text[:16].lower()
        if head.startswith(("http://", "https://")):
            return repr(text if len(text) <= 80 else text[:79] + "…")
        if head.startswith("data:") or _looks_base64(text):
            return f"an inline image of about {len(text) * 3 // 4 // 1024} KB"
        return repr(PurePath(text).name)

    def _decode(self, payload: str, param: str) -> bytes:
        compact = "".join(payload.split())
        if len(compact) * 3 // 4 > MAX_INLINE_BYTES:
            raise ValidationError(
                f"{param}: inline images are limited to {MAX_INLINE_BYTES // 1_048_576} MB; "
                "put the file in the input folder and pass its name",
                param=param,
            )
        try:
            return base64.b64decode(compact, validate=True)
        except (binascii.Error, ValueError):
            raise ValidationError(f"{param}: not valid base64", param=param) from None

    def input_path(self, name: str, *, param: str = "image") -> Path:
        """The resolved path of ``name`` (relative to ``--in-dir``, or absolute inside it).

        Raises:
            SandboxError: ``..``, a NUL byte, or a path (after symlinks) outside ``--in-dir``.
            ValidationError: No such file.
        """
        candidate = self._inside(name, self.in_dir, param)
        try:
            resolved = candidate.resolve(strict=True)
        except FileNotFoundError:
            raise ValidationError(
                f"{param}: no such file in the input folder: {name}", param=param
            ) from None
        except (OSError, RuntimeError):
            raise SandboxError(f"{param}: cannot resolve {name!r}", param=param) from None
        if not resolved.is_relative_to(self.in_dir):
            raise SandboxError(
                f"{param}: {name!r} leads outside the input folder {self.in_dir} (a symlink?)",
                param=param,
            )
        if not resolved.is_file():
            raise ValidationError(f"{param}: {name!r} is not a file", param=param)
        return resolved

    def open_input(self, name: str, *, param: str = "image") -> IO[bytes]:
        """Open a sandbox input for reading, refusing a symlink swapped in after the check."""
        path = self.input_path(name, param=param)
        flags = os.O_RDONLY | getattr(os, "O_NOFOLLOW", 0) | getattr(os, "O_BINARY", 0)
        try:
            fd = os.open(path, flags)
        except OSError:
            raise SandboxError(f"{param}: cannot open {name!r} inside the input folder") from None
        return os.fdopen(fd, "rb")

    @staticmethod
    def _inside(name: str, folder: Path, param: str) -> Path:
        if not name or "\x00" in name:
            raise SandboxError(f"{param}: an empty or malformed path", param=param)
        pure = PurePath(name)
        if ".." in pure.parts:
            raise SandboxError(f"{param}: '..' is not allowed in paths ({name!r})", param=param)
        path = Path(name).expanduser() if name.startswith("~") else Path(name)
        if not path.is_absolute():
            path = folder / path
        # Lexical check first (gives the clearer message); the resolved check follows.
        if not path.is_relative_to(folder):
            raise SandboxError(
                f"{param}: {name!r} is outside the sandbox folder {folder}", param=param
            )
        return path

    # -- outputs --------------------------------------------------------------------------------

    def output_path(self, name: str | None, *, stem: str, output_format: str | None) -> Path:
        """A new file in ``--out-dir``: ``name`` (a bare file name) or a generated one.

        Raises:
            SandboxError: ``name`` has a folder part, ``..``, or odd characters.
            ValidationError: A file of that name exists already (results never overwrite).
        """
        ext = _FORMATS.get((output_format or "png").lower(), "png")
        if name is None:
            stamp = time.strftime("%Y%m%d-%H%M%S")
            return self.out_dir / f"{stem}-{stamp}-{secrets.token_hex(3)}.{ext}"
        if not _NAME_RE.match(name) or ".." in name or PurePath(name).name != name:
            raise SandboxError(
                f"output_name: {name!r} must be a plain file name (letters, digits, '.', '_', "
                "'-', spaces); results always go into the output folder",
                param="output_name",
            )
        if "." not in name:
            name = f"{name}.{ext}"
        path = self.out_dir / name
        if path.exists() or path.is_symlink():
            raise ValidationError(
                f"output_name: {name!r} already exists in the output folder; choose another name",
                param="output_name",
            )
        return path
