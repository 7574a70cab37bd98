"""Request body limits (web.app.RequestBodyLimit) and authorisation before an upload is read.

In-process (TestClient, raising any server exception): declared and streamed (chunked) bodies over the limit of
their path are 413 JSON {error, field, rule} on uploads and JSON endpoints alike, never a 500; bodies within it are
served.  Against `certseal serve` (uvicorn) over a raw socket: an oversized Content-Length is refused without
sending the body, and the seal upload endpoints answer 401/403 before a single byte of the body has been sent.
"""

from __future__ import annotations

import json
import re
import socket
from collections.abc import Callable, Iterator
from typing import Any

import httpx
import pytest
from fastapi.testclient import TestClient

from certseal.config import Settings
from certseal.services.apikeys import ApiKeyService
from certseal.services.platform import Platform
from certseal.web.app import BodyLimits, RequestBodyLimit, create_app
from tests import pdfdocs
from tests.conftest import ACTOR
from tests.fixtures.server import LiveDeployment

MIB = 1024 * 1024
SMALL = BodyLimits(upload=64 * 1024, other=4 * 1024)
UPLOAD_PATHS = ["/api/v1/verify", "/api/v1/seals/official/pdf", "/api/v1/seals/official/ofd", "/api/v1/seals"]
JSON_PATHS = [("PUT", "/api/v1/seals/official/users"), ("POST", "/api/v1/cas")]


@pytest.fixture
def platform_(make_settings: Callable[..., Settings]) -> Iterator[Platform]:
    platform = Platform(make_settings())
    platform.db.migrate()
    yield platform
    platform.close()


def _admin(platform: Platform) -> dict[str, str]:
    return {"Authorization": f"Bearer {ApiKeyService(platform).create('admin', 'admin', ACTOR)[1]}"}


def _chunks(total: int, size: int = 16 * 1024) -> Iterator[bytes]:
    """A body without Content-Length: httpx sends a generator with Transfer-Encoding: chunked."""
    sent = 0
    while sent < total:
        chunk = b"x" * min(size, total - sent)
        sent += len(chunk)
        yield chunk


def _assert_413(response: httpx.Response, limit: str) -> None:
    assert response.status_code == 413, response.text
    assert response.headers["content-type"] == "application/json"
    body = response.json()
    assert body["field"] == "file" and body["rule"] == f"the request body must be at most {limit}"
    assert body["error"] == f"file: {body['rule']}"


def test_limits_by_path() -> None:
    limits = BodyLimits()
    assert limits.upload == 64 * MIB and limits.other == MIB
    for path in [*UPLOAD_PATHS, "/api/v1/seals/x/pdf", "/api/v1/anything/ofd", "/api/v1/seals/x/cms"]:
        assert limits.for_path(path) == 64 * MIB, path
    for path in ["/api/v1/seals/x/users", "/api/v1/cas", "/api/v1/seals/x", "/", "/pdf", "/api/v1/verify/x"]:
        assert limits.for_path(path) == MIB, path


@pytest.mark.parametrize("path", UPLOAD_PATHS)
def test_a_declared_oversized_upload_is_413_before_anything_else(platform_: Platform, path: str) -> None:
    client = TestClient(create_app(platform_, SMALL))
    body = b"x" * (SMALL.upload + 1)
    for headers in ({}, _admin(platform_)):  # no key either: the body's size is judged first
        _assert_413(client.post(path, content=body, headers=headers), "64 KiB")


@pytest.mark.parametrize(("method", "path"), JSON_PATHS)
def test_json_endpoints_have_the_small_limit(platform_: Platform, method: str, path: str) -> None:
    client = TestClient(create_app(platform_, SMALL))
    headers = {**_admin(platform_), "Content-Type": "application/json"}
    big = json.dumps({"users": ["a" * 5000]}).encode()
    _assert_413(client.request(method, path, content=big, headers=headers), "4 KiB")
    _assert_413(client.request(method, path, content=_chunks(5000), headers=headers), "4 KiB")
    within = client.request(method, path, content=json.dumps({"users": ["alice"]}).encode(), headers=headers)
    assert within.status_code not in (413, 500), within.text  # served: 404 (no such seal) or 422 (wrong body)


@pytest.mark.parametrize("path", ["/api/v1/verify", "/api/v1/seals/official/pdf", "/api/v1/seals"])
def test_a_streamed_upload_over_the_limit_is_413_not_500(platform_: Platform, path: str) -> None:
    client = TestClient(create_app(platform_, SMALL))  # raise_server_exceptions: a 500 would raise here
    headers = {**_admin(platform_), "Content-Type": "multipart/form-data; boundary=xyz"}
    response = client.post(path, content=_chunks(SMALL.upload + 1), headers=headers)
    _assert_413(response, "64 KiB")


def test_the_default_upload_limit_counts_a_streamed_body(platform_: Platform) -> None:
    client = TestClient(create_app(platform_))
    headers = {**_admin(platform_), "Content-Type": "multipart/form-data; boundary=xyz"}
    response = client.post("/api/v1/verify", content=_chunks(64 * MIB + 1, MIB), headers=headers)
    _assert_413(response, "64 MiB")


def test_a_streamed_upload_within_the_limit_is_served(platform_: Platform) -> None:
    client = TestClient(create_app(platform_, SMALL))
    boundary = "b0undary"
    part = (
        f'--{boundary}\r\nContent-Disposition: form-data; name="file"; filename="in.pdf"\r\n'
        f"Content-Type: application/pdf\r\n\r\n"
    ).encode()
    body = part + pdfdocs.one_page() + f"\r\n--{boundary}--\r\n".encode()
    assert len(body) < SMALL.upload

    def stream() -> Iterator[bytes]:
        yield from (body[i : i + 1000] for i in range(0, len(body), 1000))

    headers = {**_admin(platform_), "Content-Type": f"multipart/form-data; boundary={boundary}"}
    response = client.post("/api/v1/verify", content=stream(), headers=headers)
    assert response.status_code == 200, response.text
    assert response.json()["signatures"] == []


def test_the_protocol_fast_paths_keep_their_own_limits(platform_: Platform) -> None:
    client = TestClient(create_app(platform_, BodyLimits(upload=10, other=10)))
    query = {"Content-Type": "application/timestamp-query"}
    tsa = client.post("/tsa", content=b"\x30" * 100, headers=query)  # a rejection (bad_data_format) from the TSA,
    assert tsa.status_code == 200 and tsa.headers["content-type"] == "application/timestamp-reply"  # not a 413
    ocsp = client.post("/ocsp/nope", content=b"\x30" * 100, headers={"Content-Type": "application/ocsp-request"})
    assert ocsp.status_code == 404


async def _collect(app: Any, scope: dict[str, Any], messages: list[dict[str, Any]]) -> list[dict[str, Any]]:
    sent: list[dict[str, Any]] = []

    async def receive() -> dict[str, Any]:
        return messages.pop(0) if messages else {"type": "http.disconnect"}

    async def send(message: dict[str, Any]) -> None:
        sent.append(message)

    await app(scope, receive, send)
    return sent


def test_an_app_that_fails_on_the_cut_body_still_answers_413() -> None:
    import asyncio

    async def app(scope: Any, receive: Any, send: Any) -> None:
        while (await receive())["type"] == "http.request":
            pass
        raise RuntimeError("the client went away")  # as Starlette's ClientDisconnect would

    guarded = RequestBodyLimit(app, BodyLimits(upload=10, other=10))
    scope = {"type": "http", "path": "/api/v1/x", "headers": []}
    body = [{"type": "http.request", "body": b"x" * 8, "more_body": True}] * 3
    sent = asyncio.run(_collect(guarded, scope, list(body)))
    assert sent[0]["status"] == 413 and json.loads(sent[1]["body"])["field"] == "file"
    within = [{"type": "http.request", "body": b"x" * 8, "more_body": False}]
    with pytest.raises(RuntimeError):  # an error that has nothing to do with the limit is not hidden
        asyncio.run(_collect(guarded, scope, within))


# --- against `certseal serve` -------------------------------------------------------------------------------


def _raw_request(live: LiveDeployment, head: str) -> tuple[int, dict[str, Any]]:
    """Send request headers and no body; the answer must come without it (socket timeout otherwise)."""
    with socket.create_connection(("127.0.0.1", live.port), timeout=20) as connection:
        connection.sendall(head.replace("\n", "\r\n").encode() + b"\r\n")
        received = b""
        while b"\r\n\r\n" not in received or len(received.split(b"\r\n\r\n", 1)[1]) < _length(received):
            chunk = connection.recv(65536)
            if not chunk:
                break
            received += chunk
    status = int(received.split(b" ", 2)[1])
    return status, json.loads(received.split(b"\r\n\r\n", 1)[1])


def _length(received: bytes) -> int:
    match = re.search(rb"(?i)content-length: *(\d+)", received.split(b"\r\n\r\n", 1)[0])
    return int(match.group(1)) if match else 0


def _api_key(live: LiveDeployment, name: str, role: str) -> str:
    output = live.run("apikey", "create", name, "--role", role).stdout
    match = re.search(r"cs_\S+", output)
    assert match, output
    return match.group(0)


def _post_head(path: str, length: int, token: str | None, content_type: str = "multipart/form-data; boundary=b") -> str:
    auth = f"Authorization: Bearer {token}\n" if token else ""
    return f"POST {path} HTTP/1.1\nHost: localhost\nContent-Type: {content_type}\nContent-Length: {length}\n{auth}"


def test_live_server_refuses_and_authorises_before_the_body(live: LiveDeployment) -> None:
    status, body = _raw_request(live, _post_head("/api/v1/seals/official/pdf", 64 * MIB + 1, None))
    assert status == 413 and body["rule"] == "the request body must be at most 64 MiB"
    status, body = _raw_request(live, _post_head("/api/v1/seals", 64 * MIB + 1, None))
    assert status == 413 and body["field"] == "file"
    put = _post_head("/api/v1/seals/official/users", MIB + 1, None, "application/json").replace("POST", "PUT", 1)
    status, body = _raw_request(live, put)
    assert status == 413 and body["rule"] == "the request body must be at most 1 MiB"

    auditor = _api_key(live, "auditor", "auditor")
    for path, permission in [
        ("/api/v1/seals/official/pdf", "seal:use"),
        ("/api/v1/seals/official/ofd", "seal:use"),
        ("/api/v1/seals/official/cms", "seal:use"),
        ("/api/v1/seals", "seal:write"),
    ]:
        status, body = _raw_request(live, _post_head(path, 10 * MIB, None))
        assert status == 401, body
        status, body = _raw_request(live, _post_head(path, 10 * MIB, auditor))
        assert status == 403 and permission in body["error"], body
