"""Multipart uploads for the API: authorise first, then read the body.

Form fields are not FastAPI File/Form parameters (which would make it spool the whole upload before the API key is
checked) but a pydantic model validated from the parsed form and referenced from the OpenAPI document: a route module
lists the model in `openapi_models` and puts `form_request_body(Model)` in its `openapi_extra`.
"""

from __future__ import annotations

import types
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from typing import Any, TypeVar, Union, get_args, get_origin

import pydantic
from fastapi import Request, UploadFile, status
from fastapi.responses import JSONResponse
from pydantic import BaseModel
from starlette.datastructures import FormData
from starlette.exceptions import HTTPException

from certseal.errors import ValidationError

FormModel = TypeVar("FormModel", bound=BaseModel)
_CHUNK = 1024 * 1024


def form_request_body(model: type[BaseModel]) -> dict[str, Any]:
    """The OpenAPI requestBody of an endpoint whose multipart/form-data fields are `model` (see openapi_models)."""
    schema = {"$ref": f"#/components/schemas/{model.__name__}"}
    return {"required": True, "content": {"multipart/form-data": {"schema": schema}}}


@asynccontextmanager
async def multipart_form(
    request: Request, model: type[FormModel], max_files: int, max_fields: int
) -> AsyncIterator[FormModel]:
    """The request's form validated as `model`, its uploaded files open until the block ends.

    Call it only once the caller is authorised: it reads the body (bounded by the app's RequestBodyLimit)."""
    try:
        form = await request.form(max_files=max_files, max_fields=max_fields)
    except HTTPException as exc:
        raise ValidationError("file", f"the multipart body cannot be read: {exc.detail}") from None
    try:
        yield _validated(model, form)
    finally:
        await form.close()


def _validated(model: type[FormModel], form: FormData) -> FormModel:
    """As FastAPI reads Form/File parameters: an empty text field counts as absent, a repeated one is a list."""
    values: dict[str, Any] = {}
    for name, field in model.model_fields.items():
        key = field.alias or name
        items = [item for item in form.getlist(key) if item != ""]
        if items:
            values[key] = items if _is_list(field.annotation) else items[-1]
    try:
        return model.model_validate(values)
    except pydantic.ValidationError as exc:
        error = exc.errors()[0]
        field_name = ".".join(str(part) for part in error["loc"]) or "form"
        raise ValidationError(field_name, error["msg"]) from None


def _is_list(annotation: Any) -> bool:
    if get_origin(annotation) in (Union, types.UnionType):
        return any(_is_list(member) for member in get_args(annotation))
    return get_origin(annotation) is list


async def read_limited(upload: UploadFile, limit: int) -> bytes | None:
    """The uploaded file, or None as soon as it proves larger than `limit` bytes."""
    if upload.size is not None and upload.size > limit:
        return None
    parts: list[bytes] = []
    total = 0
    while chunk := await upload.read(_CHUNK):
        total += len(chunk)
        if total > limit:
            return None
        parts.append(chunk)
    return b"".join(parts)


def too_large(field: str, limit: int | str) -> JSONResponse:
    """413 in the API's error shape; `limit` in bytes (shown in MiB when whole) or already worded."""
    if isinstance(limit, int):
        limit = f"{limit // (1024 * 1024)} MiB" if limit % (1024 * 1024) == 0 else f"{limit} bytes"
    rule = f"must be at most {limit}"
    return JSONResponse({"error": f"{field}: {rule}", "field": field, "rule": rule}, status.HTTP_413_CONTENT_TOO_LARGE)
