"""Edit jobs: the model, their stable ids, and reading them from a JSONL manifest or a folder."""

from __future__ import annotations

import hashlib
import json
import os
from collections.abc import AsyncIterable, AsyncIterator, Iterable, Iterator, Mapping
from pathlib import Path
from typing import Any

from pydantic import BaseModel, ConfigDict, Field, field_validator

from .._exceptions import ValidationError
from .._files import open_regular

__all__ = [
    "EditJob",
    "aiter_jobs",
    "folder_jobs",
    "job_fingerprint",
    "job_id",
    "job_identity",
    "manifest_jobs",
]

#: Files a folder batch picks up.
IMAGE_SUFFIXES = frozenset({".png", ".jpg", ".jpeg", ".webp"})
_CHUNK = 1024 * 1024


class EditJob(BaseModel):
    """One edit of a batch: an input image, a prompt, the edit's parameters and where to write it.

    Attributes:
        image: A path, an ``http(s)://`` URL, base64 / a data URI, or bytes.
        prompt: What to change.
        params: Further keyword arguments of ``client.images.edit`` (``model``,
            ``aspect_ratio``, ``resolution``, ``output_format``, ``safe_mode``, ...).
        output: The file the result is written to (atomically). Its folder is created.
        id: A stable id of your own; when ``None`` the id is a hash of the inputs
            (see :func:`job_id`).
    """

    model_config = ConfigDict(extra="forbid", frozen=True, arbitrary_types_allowed=True)

    image: Path | str | bytes
    prompt: str = Field(min_length=1)
    params: dict[str, Any] = Field(default_factory=dict)
    output: Path
    id: str | None = None

    @field_validator("params")
    @classmethod
    def _no_reserved_params(cls, value: dict[str, Any]) -> dict[str, Any]:
        reserved = {"image", "prompt", "output"} & set(value)
        if reserved:
            raise ValueError(f"params must not contain {sorted(reserved)}; they are job fields")
        return value


def _image_fingerprint(image: Path | str | bytes) -> dict[str, Any]:
    if isinstance(image, bytes):
        return {"bytes_sha256": hashlib.sha256(image).hexdigest()}
    text = str(image)
    is_path = isinstance(image, Path) or (
        len(text) < 4096 and not text.lower().startswith(("http://", "https://", "data:"))
        and os.path.isfile(text)
    )  # fmt: skip
    if is_path:
        digest = hashlib.sha256()
        # A missing file (or a FIFO, refused without blocking) fails the job, not the id.
        with open_regular(image) as fh:
            while chunk := fh.read(_CHUNK):
                digest.update(chunk)
        return {"file_sha256": digest.hexdigest()}
    return {"string_sha256": hashlib.sha256(text.encode()).hexdigest()}


def _canonical(value: Any) -> str:
    return json.dumps(value, sort_keys=True, separators=(",", ":"), default=str)


def job_identity(job: EditJob) -> tuple[str, str]:
    """The job's id and its fingerprint, reading the input once (see :func:`job_fingerprint`)."""
    try:
        image = _image_fingerprint(job.image)
    except OSError:
        image = {"unreadable_path": str(job.image)}
    what = {"image": image, "prompt": job.prompt, "params": job.params}
    fingerprint = hashlib.sha256(_canonical(what).encode()).hexdigest()[:32]
    if job.id is not None:
        return job.id, fingerprint
    canonical = _canonical({**what, "output": str(job.output)})
    return "j" + hashlib.sha256(canonical.encode()).hexdigest()[:24], fingerprint


def job_fingerprint(job: EditJob) -> str:
    """What the job would send, as a digest: the input's content, the prompt and the parameters.

    The journal records it with the job's ``sent`` record; a resume refuses to let a record
    answer for a job whose fingerprint differs (same id, different input, prompt or params).
    """
    return job_identity(job)[1]


def job_id(job: EditJob) -> str:
    """The job's id: ``job.id`` when given, else a stable hash of what the job would send.

    The hash covers the image's *content* (SHA-256 of the file's bytes, of the bytes, or of the
    URL / base64 string), the prompt, the parameters (as canonical JSON) and the output path as
    given. Renaming or touching an input file keeps the id; editing its pixels changes it.
    Reading a file that does not exist raises ``OSError``.
    """
    if job.id is not None:
        return job.id
    return job_identity(job)[0]


def _output_name(stem: str, params: Mapping[str, Any]) -> str:
    fmt = str(params.get("output_format") or "png").lower()
    return f"{stem}.{'jpg' if fmt == 'jpeg' else fmt}"


def manifest_jobs(
    path: str | os.PathLike[str],
    *,
    prompt: str | None = None,
    out_dir: str | os.PathLike[str] | None = None,
    params: Mapping[str, Any] | None = None,
    allow_outside_paths: bool = False,
) -> Iterator[EditJob]:
    """Read jobs from a JSONL manifest, one JSON object per line.

    Keys: ``image`` (required; a relative path is read from the manifest's folder), ``prompt``
    (default: ``prompt``), ``output`` (default: ``out_dir / <image stem>.<format>``; a relative
    path is under ``out_dir``), ``params`` (merged over ``params``) and ``id``. Blank lines
    and lines starting with ``#`` are skipped.

    A manifest is data, possibly from someone else: its inputs must lie inside the manifest's
    folder and its outputs inside ``out_dir`` (the manifest's folder without one), after
    resolving ``..``, ``~``, absolute paths and symbolic links. ``allow_outside_paths=True``
    (``--allow-outside-paths``) lifts both rules.

    Raises:
        ValidationError: a line is not a valid job, or a path leaves its folder (the message
            names the line).
    """
    manifest = Path(path)
    base = manifest.parent
    out = Path(out_dir) if out_dir is not None else None
    confine = not allow_outside_paths
    base_real = base.resolve()
    out_real = (out if out is not None else base).resolve()
    with manifest.open(encoding="utf-8") as fh:
        for number, line in enumerate(fh, 1):
            text = line.strip()
            if not text or text.startswith("#"):
                continue
            where = f"{manifest}:{number}"
            try:
                row = json.loads(text)
            except json.JSONDecodeError as exc:
                raise ValidationError(f"{where}: not JSON ({exc.msg})", param="manifest") from None
            if not isinstance(row, dict) or "image" not in row:
                raise ValidationError(f"{where}: each line needs an 'image'", param="manifest")
            unknown = set(row) - {"image", "prompt", "output", "params", "id"}
            if unknown:
                raise ValidationError(f"{where}: unknown keys {sorted(unknown)}", param="manifest")
            image = str(row["image"])
            is_remote = image.lower().startswith(("http://", "https://", "data:"))
            image_value: Path | str = image if is_remote else _under(base, image)
            if confine and isinstance(image_value, Path):
                _confined(image_value, base_real, where, "image", "the manifest's folder")
            merged = {**(params or {}), **(row.get("params") or {})}
            output = row.get("output")
            if output is None:
                if out is None:
                    raise ValidationError(f"{where}: no 'output' and no out_dir", param="manifest")
                stem = Path(image).stem if not is_remote else f"line{number}"
                output_path = out / _output_name(stem, merged)
            else:
                output_path = _under(out if out is not None else base, str(output))
            if confine:
                _confined(output_path, out_real, where, "output", "the output folder")
            job_prompt = row.get("prompt", prompt)
            if not job_prompt:
                raise ValidationError(f"{where}: no 'prompt' and no default", param="manifest")
            try:
                yield EditJob(
                    image=image_value,
                    prompt=job_prompt,
                    params=merged,
                    output=output_path,
                    id=row.get("id"),
                )
            except ValueError as exc:
                raise ValidationError(f"{where}: {exc}", param="manifest") from None


def _under(base: Path, value: str) -> Path:
    path = Path(value).expanduser()
    return path if path.is_absolute() else base / path


def _confined(path: Path, root: Path, where: str, key: str, what: str) -> None:
    try:
        inside = path.resolve().is_relative_to(root)
    except (OSError, ValueError, RuntimeError):
        inside = False
    if not inside:
        raise ValidationError(
            f"{where}: {key} {str(path)[:200]!r} is outside {what} ({root}); pass "
            "--allow-outside-paths (allow_outside_paths=True) if this manifest is yours",
            param="manifest",
        )


def folder_jobs(
    folder: str | os.PathLike[str],
    *,
    prompt: str,
    out_dir: str | os.PathLike[str],
    params: Mapping[str, Any] | None = None,
) -> Iterator[EditJob]:
    """One job per image file (``.png``, ``.jpg``, ``.jpeg``, ``.webp``) in ``folder``, sorted by
    name, not recursive; each writes ``out_dir / <stem>.<format>``."""
    merged = dict(params or {})
    out = Path(out_dir)
    for path in sorted(Path(folder).iterdir()):
        if path.is_file() and path.suffix.lower() in IMAGE_SUFFIXES:
            yield EditJob(
                image=path,
                prompt=prompt,
                params=merged,
                output=out / _output_name(path.stem, merged),
            )


async def aiter_jobs(jobs: Iterable[EditJob] | AsyncIterable[EditJob]) -> AsyncIterator[EditJob]:
    """Iterate a sync or async iterable of jobs asynchronously."""
    if isinstance(jobs, AsyncIterable):
        async for job in jobs:
            yield job
    else:
        for job in jobs:
            yield job
