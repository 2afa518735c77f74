"""Package content over HTTP: receiving uploads (size-limited, streamed to disk) and serving
files (with single byte ranges, as SOL005 `Range` / 206 / 416 ask)."""

from __future__ import annotations

import re
from collections.abc import AsyncGenerator, AsyncIterator, Mapping
from pathlib import Path

from fastapi import Request
from fastapi.responses import Response
from starlette.datastructures import UploadFile
from starlette.formparsers import MultiPartException, MultiPartParser

from cloudcpe.api.errors import problem
from cloudcpe.api.sol005.common import BadRequest, UnsupportedMediaType
from cloudcpe.catalog.sol004 import PackageTooLarge

ZIP = "application/zip"
TEXT = "text/plain"
# what uploads may say, and what that means here
ZIP_TYPES = {ZIP: ZIP, "application/x-zip-compressed": ZIP, "application/octet-stream": ZIP}
YAML_TYPES = {
    TEXT: TEXT,
    "application/yaml": TEXT,
    "application/x-yaml": TEXT,
    "text/yaml": TEXT,
    "text/x-yaml": TEXT,
}
_CHUNK = 1 << 16


def _media(value: str | None) -> str:
    return (value or "").split(";")[0].strip().lower()


async def _limited(stream: AsyncIterator[bytes], limit: int) -> AsyncGenerator[bytes, None]:
    total = 0
    async for chunk in stream:
        total += len(chunk)
        if total > limit:
            raise PackageTooLarge(f"the upload is larger than the limit of {limit} bytes")
        yield chunk


async def receive(request: Request, dest: Path, limit: int, accepted: Mapping[str, str]) -> str:
    """Write the request body (raw, or the `file` part of multipart/form-data) to `dest`,
    refusing more than `limit` bytes; returns what the content is (a value of `accepted`)."""
    declared = request.headers.get("content-length", "")
    if declared.isdigit() and int(declared) > limit:
        raise PackageTooLarge(f"the upload is {declared} bytes, more than the limit of {limit}")
    media = _media(request.headers.get("content-type"))
    kinds = ", ".join(sorted(accepted))
    if not media:
        raise BadRequest(f"no Content-Type: send the content as {kinds} or multipart/form-data")
    if media == "multipart/form-data":
        return await _receive_form(request, dest, limit, accepted)
    if media not in accepted:
        raise UnsupportedMediaType(
            f"Content-Type {media} is not accepted here; send {kinds} "
            "or multipart/form-data with a 'file' part"
        )
    size = 0
    with dest.open("xb") as f:
        async for chunk in _limited(request.stream(), limit):
            size += len(chunk)
            f.write(chunk)
    if size == 0:
        raise BadRequest("the request has no content")
    return accepted[media]


async def _receive_form(
    request: Request, dest: Path, limit: int, accepted: Mapping[str, str]
) -> str:
    parser = MultiPartParser(
        request.headers, _limited(request.stream(), limit), max_files=1, max_fields=10
    )
    try:
        form = await parser.parse()
    except MultiPartException as exc:
        raise BadRequest(f"malformed multipart/form-data body: {exc.message}") from None
    try:
        upload = form.get("file")
        if not isinstance(upload, UploadFile):
            raise BadRequest("multipart/form-data without a 'file' part holding the content")
        part = _media(upload.content_type)
        with dest.open("xb") as f:
            head = await upload.read(_CHUNK)
            f.write(head)
            while chunk := await upload.read(_CHUNK):
                f.write(chunk)
        if not head:
            raise BadRequest("the 'file' part is empty")
        if part in accepted:
            return accepted[part]
        if part and part not in ("application/octet-stream", "multipart/form-data"):
            kinds = ", ".join(sorted(accepted))
            raise UnsupportedMediaType(f"the 'file' part is {part}, not one of {kinds}")
        # a part without a type that says more: a zip is a zip, anything else YAML if taken
        is_zip = head.startswith(b"PK\x03\x04")
        return ZIP if is_zip or TEXT not in accepted.values() else TEXT
    finally:
        await form.close()


_RANGE = re.compile(r"^bytes=(\d*)-(\d*)$")


def file_response(request: Request, data: Path | bytes, media_type: str) -> Response:
    """The whole content (200), or one byte range of it (206) when `Range` asks; a range
    beyond the end answers 416. Malformed or multiple ranges are ignored (RFC 9110)."""
    body = data.read_bytes() if isinstance(data, Path) else data
    size = len(body)
    headers = {"Accept-Ranges": "bytes"}
    span = _range(request.headers.get("range", ""), size)
    if span is None:
        return Response(body, 200, headers=headers, media_type=media_type)
    start, end = span
    if start >= size or end < start:
        resp = problem(
            416,
            "Range not satisfiable",
            f"the content is {size} bytes; {request.headers['range']} is beyond it",
        )
        resp.headers["Content-Range"] = f"bytes */{size}"
        return resp
    headers["Content-Range"] = f"bytes {start}-{end}/{size}"
    return Response(body[start : end + 1], 206, headers=headers, media_type=media_type)


def _range(header: str, size: int) -> tuple[int, int] | None:
    """(first, last) byte of a single `bytes=` range; None when there is no usable one."""
    match = _RANGE.match(header.replace(" ", ""))
    if match is None or not (match.group(1) or match.group(2)):
        return None
    first, last = match.group(1), match.group(2)
    if not first:  # the last N bytes
        return max(size - int(last), 0), size - 1 if int(last) else -1
    if last and int(last) < int(first):
        return None  # syntactically invalid: ignored
    return int(first), min(int(last), size - 1) if last else size - 1
