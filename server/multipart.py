"""Strict parsing of GraphQL multipart requests (https://github.com/jaydenseric/graphql-multipart-request-spec).

Strawberry's own parser accepts a request without ``map`` and turns some
malformed maps into a 500. Here every deviation is a 400 before anything
runs: ``operations`` and ``map`` must both be JSON objects (``operations``
may be a batch list), every ``map`` entry must name a file part, and every
path must lead through existing objects/lists to a ``null`` placeholder
inside ``variables``.

Parts are counted while the body streams in (Starlette's ``request.form``
limits, python-multipart underneath): the 11th file part or the 11th text
field ends the parse with a 400 at once, so thousands of parts cost no more
than eleven.
"""

from __future__ import annotations

import json
from collections.abc import Mapping
from typing import Any

from cross_web import HTTPException
from starlette.exceptions import HTTPException as StarletteHTTPException
from starlette.formparsers import MultiPartException

from server.strawberry_internals import starlette_request_of

MAX_FILES = 10
MAX_FIELDS = 10
"""Text parts per request: the spec has two (``operations``, ``map``); a few more are tolerated and ignored."""
MAX_PATHS = 50
MAX_REQUEST_BYTES = 25 * 1024 * 1024


def _bad(reason: str) -> HTTPException:
    return HTTPException(400, f"Invalid multipart request: {reason}")


async def parse_multipart(request: Any) -> dict[str, Any] | list[Any]:
    """Operations with the uploaded files in place of their placeholders.

    ``request`` is Strawberry's request adapter. Raises ``HTTPException``:
    400 for any malformed request, 413 above 25 MB.
    """
    length = request.headers.get("content-length")
    if length is not None and length.isdigit() and int(length) > MAX_REQUEST_BYTES:
        raise HTTPException(413, f"the request is larger than {MAX_REQUEST_BYTES} bytes")
    try:
        form = await _form(request)
    except (StarletteHTTPException, MultiPartException) as error:
        raise _bad(_reworded(str(getattr(error, "detail", None) or getattr(error, "message", "")))) from error
    except ValueError as error:
        raise _bad("the multipart body cannot be parsed") from error
    operations = _json_field(form, "operations")
    files_map = _json_field(form, "map")
    if not isinstance(operations, (dict, list)):
        raise _bad("operations must be a JSON object or list")
    if not isinstance(files_map, dict):
        raise _bad("map must be a JSON object")
    if len(files_map) > MAX_FILES:
        raise _bad(f"at most {MAX_FILES} files per request")
    placed = 0
    for part_name, paths in files_map.items():
        upload = form.get(part_name)
        if upload is None or isinstance(upload, str) or not hasattr(upload, "read"):
            raise _bad(f"map names a file part {part_name!r} that the request does not contain")
        if not isinstance(paths, list) or not paths or not all(isinstance(p, str) for p in paths):
            raise _bad(f"map entry {part_name!r} must be a non-empty list of paths")
        for path in paths:
            placed += 1
            if placed > MAX_PATHS:
                raise _bad(f"at most {MAX_PATHS} file paths per request")
            _place(operations, path, upload)
    return operations


def _reworded(message: str) -> str:
    """Starlette's parse refusals in this API's words: the limit as a limit, as every refusal states it."""
    if message.startswith("Too many fields"):
        return f"at most {MAX_FIELDS} text parts per request; this one has more"
    if message.startswith("Too many files"):
        return f"at most {MAX_FILES} files per request; this one has more"
    return message


async def _form(request: Any) -> Mapping[str, Any]:
    """The parsed form, at most :data:`MAX_FILES` files and :data:`MAX_FIELDS` fields (else Starlette's 400).

    Strawberry's request adapter would parse with Starlette's defaults (1,000
    parts of each kind), so the Starlette request inside it parses instead;
    with another adapter its own parse is used.
    """
    starlette_request = starlette_request_of(request)
    if starlette_request is not None:
        return await starlette_request.form(max_files=MAX_FILES, max_fields=MAX_FIELDS)
    return (await request.get_form_data()).form


def _json_field(form: Mapping[str, Any], name: str) -> Any:
    value = form.get(name)
    if value is None:
        raise _bad(f"the {name!r} field is missing")
    if not isinstance(value, str):
        raise _bad(f"the {name!r} field must be a text field")
    try:
        return json.loads(value)
    except json.JSONDecodeError as error:
        raise _bad(f"the {name!r} field is not valid JSON") from error


def _place(operations: dict | list, path: str, upload: Any) -> None:
    """Put ``upload`` at ``path`` (``variables.input.photo``, ``0.variables.file``, ``variables.files.1``)."""
    keys = path.split(".")
    target: Any = operations
    if isinstance(operations, list):
        if not keys[0].isdigit() or int(keys[0]) >= len(operations):
            raise _bad(f"path {path!r} names no operation of the batch")
        target, keys = operations[int(keys[0])], keys[1:]
    if len(keys) < 2 or keys[0] != "variables":
        raise _bad(f"path {path!r} must point into variables")
    for depth, key in enumerate(keys):
        last = depth == len(keys) - 1
        if isinstance(target, dict) and key in target:
            if last:
                if target[key] is not None:
                    raise _bad(f"path {path!r} must point to a null placeholder")
                target[key] = upload
                return
            target = target[key]
        elif isinstance(target, list) and key.isdigit() and int(key) < len(target):
            if last:
                if target[int(key)] is not None:
                    raise _bad(f"path {path!r} must point to a null placeholder")
                target[int(key)] = upload
                return
            target = target[int(key)]
        else:
            raise _bad(f"path {path!r} does not exist in the operations")
