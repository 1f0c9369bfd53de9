"""A fake OpenAI HTTP API on 127.0.0.1, for the OpenAI adapters' contract tests through the real `openai` SDK.

Real sockets, so timeouts, refused connects and retries happen as they would against OpenAI. Like `fake_graph`
(whose `Reply` and helpers it reuses) it runs `http.server` on a thread of its own and records every request as
it arrives, before any stall. Unless a test scripts something else for a path, it answers as OpenAI would:

* `POST /v1/embeddings`: a deterministic vector per input (from a hash of the text, at the `dimensions` asked or
  the model's native size), as float lists or base64 float32 as `encoding_format` says;
* `POST /v1/chat/completions`: the message contents the test scripted with `chat(...)`, in turn;
* `POST /v1/audio/transcriptions`: parses the multipart form and answers the text scripted with `transcript(...)`
  in the `response_format` asked (json, verbose_json with a language, or text).

`reply(path, *replies)` puts answers ahead of that (OpenAI's error shape from `openai_error`, `stall`, raw bodies),
one a request; `repeat=True` keeps answering the last one.
"""

from __future__ import annotations

import base64
import contextlib
import hashlib
import json
import socket
import threading
import time
from collections.abc import Mapping
from dataclasses import dataclass
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any
from urllib.parse import urlsplit

import numpy as np

from tests.support.fake_graph import DROP, Reply, json_reply, stall, text_reply

__all__ = ["CHAT_PATH", "DROP", "EMBEDDINGS_PATH", "TRANSCRIPTIONS_PATH", "FakeOpenAI", "Reply", "chat_completion",
           "fake_vector", "json_reply", "openai_error", "stall"]

EMBEDDINGS_PATH = "/v1/embeddings"
CHAT_PATH = "/v1/chat/completions"
TRANSCRIPTIONS_PATH = "/v1/audio/transcriptions"
NATIVE_DIMENSIONS = {"text-embedding-3-small": 1536, "text-embedding-3-large": 3072, "text-embedding-ada-002": 1536}


def openai_error(status: int, message: str = "Fake error.", *, type: str = "invalid_request_error",  # noqa: A002
                 code: str | None = None, param: str | None = None,
                 headers: Mapping[str, str] | None = None) -> Reply:
    """OpenAI's error body: {"error": {"message", "type", "param", "code"}}."""
    return json_reply({"error": {"message": message, "type": type, "param": param, "code": code}}, status=status,
                      headers=headers)


def chat_completion(content: str | None, *, finish_reason: str = "stop", refusal: str | None = None,
                    model: str = "gpt-4o-mini") -> Reply:
    return json_reply({
        "id": "chatcmpl-fake", "object": "chat.completion", "created": int(time.time()), "model": model,
        "choices": [{"index": 0, "finish_reason": finish_reason, "logprobs": None,
                     "message": {"role": "assistant", "content": content, "refusal": refusal}}],
        "usage": {"prompt_tokens": 10, "completion_tokens": 5, "total_tokens": 15}})


def fake_vector(text: str, dimensions: int) -> list[float]:
    """The unit vector the fake gives `text`: the same text always, any other text almost orthogonal."""
    seed = int.from_bytes(hashlib.sha256(text.encode()).digest()[:8], "little")
    vector = np.random.default_rng(seed).standard_normal(dimensions).astype(np.float32)
    return (vector / np.linalg.norm(vector)).astype(np.float32).tolist()  # type: ignore[no-any-return]


@dataclass(frozen=True, slots=True)
class FormField:
    value: bytes
    filename: str | None = None
    content_type: str | None = None

    @property
    def text(self) -> str:
        return self.value.decode()


@dataclass(frozen=True, slots=True)
class RecordedRequest:
    method: str
    path: str  # with the query string
    headers: Mapping[str, str]  # lower-case names
    body: bytes

    def json(self) -> Any:
        return json.loads(self.body)

    def form(self) -> dict[str, FormField]:
        """The multipart/form-data fields by name."""
        content_type = self.headers.get("content-type", "")
        boundary = content_type.partition("boundary=")[2].split(";", 1)[0].strip('"')
        if not content_type.startswith("multipart/form-data") or not boundary:
            raise ValueError(f"not a multipart form: {content_type!r}")
        fields: dict[str, FormField] = {}
        for part in self.body.split(b"--" + boundary.encode())[1:]:
            if part.startswith(b"--"):
                break
            head, _, value = part.removeprefix(b"\r\n").partition(b"\r\n\r\n")
            headers = dict(_header(line) for line in head.decode().split("\r\n") if ":" in line)
            disposition = _params(headers.get("content-disposition", ""))
            fields[disposition["name"]] = FormField(value=value.removesuffix(b"\r\n"),
                                                    filename=disposition.get("filename"),
                                                    content_type=headers.get("content-type"))
        return fields


def _header(line: str) -> tuple[str, str]:
    name, _, value = line.partition(":")
    return name.strip().lower(), value.strip()


def _params(header: str) -> dict[str, str]:
    params = {}
    for item in header.split(";")[1:]:
        name, _, value = item.strip().partition("=")
        params[name.lower()] = value.strip('"')
    return params


class FakeOpenAI:
    """The fake server; `base_url` (ending in /v1) is what the SDK is pointed at. `listen=False`: refuses connects."""

    def __init__(self, *, listen: bool = True) -> None:
        self._lock = threading.Lock()
        self._routes: dict[str, tuple[list[Reply], bool]] = {}
        self._chat: list[Reply] = []
        self._transcript: dict[str, Any] | None = None
        self._requests: list[RecordedRequest] = []
        self._closing = threading.Event()
        self.embedding_scale = 1.0  # vectors times this: a server whose vectors are not unit length
        self.floats_only = False  # answer floats even when base64 is asked, as some OpenAI-compatible servers do
        self._server = _Server(("127.0.0.1", 0), _Handler, bind_and_activate=False)
        self._server.fake = self
        self._server.server_bind()
        self.port: int = self._server.server_address[1]
        self.base_url = f"http://127.0.0.1:{self.port}/v1"
        self._thread: threading.Thread | None = None
        if listen:
            self.listen()

    def listen(self) -> None:
        if self._thread is None:
            self._server.server_activate()
            self._thread = threading.Thread(target=self._server.serve_forever, kwargs={"poll_interval": 0.01},
                                            daemon=True)
            self._thread.start()

    def close(self) -> None:
        self._closing.set()  # releases stalled answers
        if self._thread is not None:
            self._server.shutdown()
        self._server.server_close()

    def reply(self, path: str, *replies: Reply, repeat: bool = False) -> None:
        """Answer `path` with `replies` in turn, then as by default (or the last one forever, with `repeat`)."""
        with self._lock:
            self._routes[path] = (list(replies), repeat)

    def chat(self, *contents: str | None) -> None:
        """The assistant message contents of the next chat completions, in turn; the last one repeats."""
        with self._lock:
            self._chat = [chat_completion(content) for content in contents]

    def transcript(self, text: str, *, language: str = "english", duration: float = 6.0) -> None:
        with self._lock:
            self._transcript = {"text": text, "language": language, "duration": duration}

    @property
    def requests(self) -> list[RecordedRequest]:
        with self._lock:
            return list(self._requests)

    def requests_to(self, path: str) -> list[RecordedRequest]:
        return [request for request in self.requests if urlsplit(request.path).path == path]

    def _record_and_pick(self, request: RecordedRequest) -> Reply:
        path = urlsplit(request.path).path
        with self._lock:
            self._requests.append(request)
            replies, repeat = self._routes.get(path, ([], False))
            if replies:
                return replies[0] if repeat and len(replies) == 1 else replies.pop(0)
            if request.method != "POST":
                return openai_error(405, f"fake openai: {request.method} {path}")
            if path == CHAT_PATH:
                return self._next_chat()
            transcript = self._transcript
        if path == EMBEDDINGS_PATH:
            return self._embeddings(request.json())
        if path == TRANSCRIPTIONS_PATH:
            return _transcription(request, transcript)
        return openai_error(404, f"Invalid URL (POST {path})", code="unknown_url")

    def _next_chat(self) -> Reply:
        if not self._chat:
            return text_reply("fake openai: no chat answer scripted", status=500, content_type="text/plain")
        return self._chat.pop(0) if len(self._chat) > 1 else self._chat[0]

    def _embeddings(self, body: dict[str, Any]) -> Reply:
        inputs = [body["input"]] if isinstance(body["input"], str) else body["input"]
        model = body["model"]
        dimensions = body.get("dimensions") or NATIVE_DIMENSIONS.get(model, 1536)
        base64_asked = body.get("encoding_format") == "base64" and not self.floats_only
        data = []
        for index, text in enumerate(inputs):
            vector = np.asarray(fake_vector(text, dimensions), dtype="<f4") * np.float32(self.embedding_scale)
            encoded = base64.b64encode(vector.astype("<f4").tobytes()).decode() if base64_asked else vector.tolist()
            data.append({"object": "embedding", "index": index, "embedding": encoded})
        tokens = sum(len(text.split()) for text in inputs)
        return json_reply({"object": "list", "data": data, "model": model,
                           "usage": {"prompt_tokens": tokens, "total_tokens": tokens}})


def _transcription(request: RecordedRequest, transcript: dict[str, Any] | None) -> Reply:
    if transcript is None:
        return text_reply("fake openai: no transcript scripted", status=500, content_type="text/plain")
    form = request.form()
    if "file" not in form or "model" not in form:
        return openai_error(400, "file and model are required", param="file")
    response_format = form["response_format"].text if "response_format" in form else "json"
    if response_format == "text":
        return text_reply(transcript["text"], status=200, content_type="text/plain")
    if response_format == "verbose_json":
        return json_reply({"task": "transcribe", "segments": [], **transcript})
    return json_reply({"text": transcript["text"]})


class _Server(ThreadingHTTPServer):
    daemon_threads = True
    fake: FakeOpenAI


class _Handler(BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"
    server: _Server

    def do_GET(self) -> None:
        self._answer()

    def do_POST(self) -> None:
        self._answer()

    def log_message(self, format: str, *args: Any) -> None:  # noqa: A002 - the stdlib's name
        """Silent: the tests read `requests`, and stderr is no place for a bearer header."""

    def _body(self) -> bytes:
        if self.headers.get("Transfer-Encoding", "").lower() == "chunked":
            chunks = []
            while size := int(self.rfile.readline().split(b";")[0].strip() or b"0", 16):
                chunks.append(self.rfile.read(size))
                self.rfile.readline()
            self.rfile.readline()
            return b"".join(chunks)
        length = int(self.headers.get("Content-Length") or 0)
        return self.rfile.read(length) if length else b""

    def _answer(self) -> None:
        request = RecordedRequest(method=self.command, path=self.path, body=self._body(),
                                  headers={name.lower(): value for name, value in self.headers.items()})
        fake = self.server.fake
        reply = fake._record_and_pick(request)
        if reply.stall_s and fake._closing.wait(reply.stall_s):
            reply = DROP
        self.close_connection = True
        if reply.drop:
            with contextlib.suppress(OSError):
                self.connection.shutdown(socket.SHUT_RDWR)
            return
        with contextlib.suppress(OSError):
            self.send_response(reply.status)
            for name, value in reply.headers.items():
                self.send_header(name, value)
            self.send_header("Connection", "close")
            self.send_header("Content-Length", str(len(reply.body)))
            self.end_headers()
            self.wfile.write(reply.body)
