"""A fake Pinecone data plane (one serverless index) speaking real HTTP on 127.0.0.1, for the Pinecone adapter's tests.

Real sockets, so the SDK's own retries, timeouts and connection errors happen as they would against Pinecone. It
runs `http.server` on a thread of its own (the test's event loop stays free to be the client), records every request
as it arrives (before any stall), and by default behaves like the index: namespaces spring up on upsert, a query
ranks the namespace's vectors by real cosine similarity after applying Pinecone's metadata filter language, and it
refuses what Pinecone refuses (a wrong API key, a vector of the wrong dimension, more than 1000 vectors or 2 MB in
one upsert, null metadata, an unknown filter operator, a delete in a namespace that does not exist). A test can
script any path to answer something else instead (errors, stalls, dropped connections) and `heal()` it again.
"""

from __future__ import annotations

import contextlib
import json
import math
import socket
import threading
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any
from urllib.parse import urlsplit

UPSERT_PATH = "/vectors/upsert"
QUERY_PATH = "/query"
DELETE_PATH = "/vectors/delete"
STATS_PATH = "/describe_index_stats"
MAX_UPSERT_VECTORS = 1000
MAX_REQUEST_BYTES = 2 * 1024 * 1024
MAX_DELETE_IDS = 1000
_GRPC_CODES = {400: 3, 401: 16, 403: 7, 404: 5, 429: 8, 500: 13, 503: 14}


@dataclass(frozen=True, slots=True)
class Reply:
    status: int = 200
    body: bytes = b""
    headers: Mapping[str, str] = field(default_factory=dict)
    stall_s: float = 0.0  # wait this long (or until the fake closes) before answering
    drop: bool = False  # close the connection without a byte of answer


def json_reply(payload: object, *, status: int = 200, headers: Mapping[str, str] | None = None) -> Reply:
    return Reply(status=status, body=json.dumps(payload).encode(),
                 headers={"Content-Type": "application/json", **(headers or {})})


def pinecone_error(status: int, message: str = "Fake error", *, retry_after: str | None = None) -> Reply:
    """Pinecone's data-plane error body: {"code": <gRPC code>, "message": ..., "details": []}.

    `retry_after="0"` lets the SDK's own retries of 429 and 5xx run at once instead of after its backoff.
    """
    return json_reply({"code": _GRPC_CODES.get(status, 2), "message": message, "details": []}, status=status,
                      headers={"Retry-After": retry_after} if retry_after is not None else None)


def stall(seconds: float) -> Reply:
    return Reply(stall_s=seconds, body=b"{}", headers={"Content-Type": "application/json"})


DROP = Reply(drop=True)


@dataclass(frozen=True, slots=True)
class RecordedRequest:
    method: str
    path: str  # with the query string
    headers: Mapping[str, str]  # lower-case names
    body: bytes

    def json(self) -> Any:
        return json.loads(self.body)


@dataclass(slots=True)
class StoredVector:
    values: list[float]
    metadata: dict[str, Any]


class FilterError(ValueError):
    """A filter Pinecone would refuse with a 400."""


class FakePinecone:
    """The fake index; `host` is what an adapter is pointed at. Bound at once, listening when `listen()`ed.

    A port that is bound but not listening refuses connects, so `FakePinecone(listen=False)` plays an index host
    that is down until the test calls `listen()`.
    """

    def __init__(self, *, api_key: str, dimension: int = 8, metric: str | None = "cosine",
                 listen: bool = True) -> None:
        self.api_key = api_key
        self.dimension = dimension
        self.metric = metric  # what describe_index_stats reports; None leaves the field out, as older indexes do
        self._lock = threading.Lock()
        self._scripts: dict[str, list[Reply]] = {}
        self._then_index: dict[str, bool] = {}
        self._requests: list[RecordedRequest] = []
        self._namespaces: dict[str, dict[str, StoredVector]] = {}
        self._closing = threading.Event()
        self._server = _Server(("127.0.0.1", 0), _Handler, bind_and_activate=False)
        self._server.fake = self
        self._server.server_bind()
        self.port: int = self._server.server_address[1]
        self.host = f"http://127.0.0.1:{self.port}"
        self._thread: threading.Thread | None = None
        if listen:
            self.listen()

    def listen(self) -> None:
        if self._thread is None:
            self._server.server_activate()
            self._thread = threading.Thread(target=self._server.serve_forever, kwargs={"poll_interval": 0.05},
                                            daemon=True)
            self._thread.start()

    def close(self) -> None:
        self._closing.set()  # releases stalled answers
        if self._thread is not None:
            self._server.shutdown()
        self._server.server_close()

    # --- scripting ---------------------------------------------------------------------------------------------

    def reply(self, path: str, *replies: Reply, then_index: bool = False) -> None:
        """Answer requests to `path` with `replies` in turn instead of the index: the last one for every later
        request, or, `then_index`, the index's own answers once they are used up."""
        with self._lock:
            self._scripts[path] = list(replies)
            self._then_index[path] = then_index

    def heal(self, path: str | None = None) -> None:
        """Let `path` (or every path) be answered by the index again."""
        with self._lock:
            if path is None:
                self._scripts.clear()
            else:
                self._scripts.pop(path, None)

    # --- what the test reads -----------------------------------------------------------------------------------

    @property
    def requests(self) -> list[RecordedRequest]:
        with self._lock:
            return list(self._requests)

    def requests_to(self, path: str) -> list[RecordedRequest]:
        return [request for request in self.requests if urlsplit(request.path).path == path]

    def namespace(self, name: str) -> dict[str, StoredVector]:
        with self._lock:
            return dict(self._namespaces.get(name, {}))

    @property
    def namespaces(self) -> dict[str, int]:
        with self._lock:
            return {name: len(vectors) for name, vectors in self._namespaces.items()}

    def seed(self, namespace: str, vector_id: str, values: Sequence[float], metadata: Mapping[str, Any]) -> None:
        """Store a vector directly, as another writer of the index would."""
        with self._lock:
            self._namespaces.setdefault(namespace, {})[vector_id] = StoredVector(list(values), dict(metadata))

    # --- the index ---------------------------------------------------------------------------------------------

    def _record_and_pick(self, request: RecordedRequest) -> Reply:
        with self._lock:
            self._requests.append(request)
            path = urlsplit(request.path).path
            replies = self._scripts.get(path)
            if replies:
                return replies.pop(0) if len(replies) > 1 or self._then_index.get(path) else replies[0]
            return self._serve(request)

    def _serve(self, request: RecordedRequest) -> Reply:
        """The index's own answer; called with the lock held."""
        path = urlsplit(request.path).path
        handler = {UPSERT_PATH: self._upsert, QUERY_PATH: self._query, DELETE_PATH: self._delete,
                   STATS_PATH: self._stats}.get(path) if request.method == "POST" else None
        if request.headers.get("api-key") != self.api_key:
            return pinecone_error(401, "Invalid API Key")
        if handler is None:
            return pinecone_error(404, f"fake pinecone: no route for {request.method} {path}")
        try:
            body = json.loads(request.body or b"{}")
            if not isinstance(body, dict):
                return pinecone_error(400, "The request body must be a JSON object")
            return handler(body, len(request.body))
        except FilterError as exc:
            return pinecone_error(400, f"Invalid filter: {exc}")
        except ValueError:
            return pinecone_error(400, "Invalid JSON body")

    def _upsert(self, body: dict[str, Any], size: int) -> Reply:
        vectors = body.get("vectors")
        refusal = self._refusal(vectors, size)
        if refusal is not None:
            return pinecone_error(400, refusal)
        assert isinstance(vectors, list)
        stored = {vector["id"]: StoredVector([float(v) for v in vector["values"]], dict(vector.get("metadata") or {}))
                  for vector in vectors}
        self._namespaces.setdefault(body.get("namespace", ""), {}).update(stored)
        return json_reply({"upsertedCount": len(stored)})

    def _refusal(self, vectors: Any, size: int) -> str | None:
        """Why Pinecone would refuse this upsert, if it would."""
        if not isinstance(vectors, list) or not vectors:
            return "vectors must be a non-empty list"
        if size > MAX_REQUEST_BYTES:
            return f"Request size {size} bytes exceeds the maximum of {MAX_REQUEST_BYTES}"
        if len(vectors) > MAX_UPSERT_VECTORS:
            return f"Upsert of {len(vectors)} vectors exceeds the maximum of {MAX_UPSERT_VECTORS}"
        return next(filter(None, map(self._vector_refusal, vectors)), None)

    def _vector_refusal(self, vector: dict[str, Any]) -> str | None:
        values = vector.get("values")
        if not isinstance(values, list) or len(values) != self.dimension:
            return f"Vector dimension {len(values or [])} does not match the dimension of the index {self.dimension}"
        for key, value in (vector.get("metadata") or {}).items():
            if value is None:
                return f"Metadata value for field {key!r} must not be null"
            if isinstance(value, list) and not all(isinstance(item, str) for item in value):
                return f"Metadata list for field {key!r} must hold only strings"
        return None

    def _query(self, body: dict[str, Any], _size: int) -> Reply:
        vector, top_k = body.get("vector"), body.get("topK")
        if not isinstance(top_k, int) or not 1 <= top_k <= 10_000:
            return pinecone_error(400, "topK must be between 1 and 10000")
        if not isinstance(vector, list) or len(vector) != self.dimension:
            return pinecone_error(400, f"Vector dimension {len(vector or [])} does not match the dimension "
                                       f"of the index {self.dimension}")
        namespace = body.get("namespace", "")
        condition = body.get("filter")
        candidates = self._namespaces.get(namespace, {})
        scored = [(vector_id, _cosine(vector, stored.values)) for vector_id, stored in candidates.items()
                  if condition is None or matches(condition, stored.metadata)]
        scored.sort(key=lambda pair: -pair[1])
        matches_out: list[dict[str, Any]] = []
        for vector_id, score in scored[:top_k]:
            match: dict[str, Any] = {"id": vector_id, "score": score, "values": []}
            if body.get("includeValues"):
                match["values"] = candidates[vector_id].values
            if body.get("includeMetadata"):
                match["metadata"] = candidates[vector_id].metadata
            matches_out.append(match)
        return json_reply({"results": [], "matches": matches_out, "namespace": namespace,
                           "usage": {"readUnits": 1}})

    def _delete(self, body: dict[str, Any], _size: int) -> Reply:
        namespace = body.get("namespace", "")
        ids = body.get("ids")
        if not isinstance(ids, list) or not ids:
            return pinecone_error(400, "this fake deletes by ids only")
        if len(ids) > MAX_DELETE_IDS:
            return pinecone_error(400, f"Delete of {len(ids)} ids exceeds the maximum of {MAX_DELETE_IDS}")
        if namespace not in self._namespaces:
            return pinecone_error(404, "Namespace not found")  # what a serverless index answers
        for vector_id in ids:
            self._namespaces[namespace].pop(vector_id, None)
        return json_reply({})

    def _stats(self, body: dict[str, Any], _size: int) -> Reply:
        if body.get("filter"):
            return pinecone_error(400, "describe_index_stats does not take a filter on serverless indexes")
        stats: dict[str, Any] = {
            "namespaces": {name: {"vectorCount": len(vectors)} for name, vectors in self._namespaces.items()},
            "dimension": self.dimension, "indexFullness": 0.0,
            "totalVectorCount": sum(len(vectors) for vectors in self._namespaces.values()), "vectorType": "dense"}
        if self.metric is not None:
            stats["metric"] = self.metric
        return json_reply(stats)


def _cosine(a: Sequence[float], b: Sequence[float]) -> float:
    dot = sum(x * y for x, y in zip(a, b, strict=True))
    norms = math.sqrt(sum(x * x for x in a)) * math.sqrt(sum(y * y for y in b))
    return dot / norms if norms else 0.0


_COMPARISONS = {"$gt": lambda a, b: a > b, "$gte": lambda a, b: a >= b,
                "$lt": lambda a, b: a < b, "$lte": lambda a, b: a <= b}


def matches(condition: Any, metadata: Mapping[str, Any]) -> bool:
    """Pinecone's metadata filter language over one vector's metadata.

    A list-of-strings field matches `$eq`/`$in` when any element does, and `$ne`/`$nin` when none does; a missing
    field matches only `$ne`, `$nin` and `$exists: false`. Anything else is refused, as Pinecone refuses it.
    """
    if not isinstance(condition, dict) or not condition:
        raise FilterError("a filter is a non-empty object")
    for key, value in condition.items():
        if key in {"$and", "$or"}:
            if not isinstance(value, list) or not value:
                raise FilterError(f"{key} takes a non-empty list")
            results = [matches(part, metadata) for part in value]
            if not (all(results) if key == "$and" else any(results)):
                return False
        elif key.startswith("$"):
            raise FilterError(f"unknown operator {key}")
        else:
            operators = value if isinstance(value, dict) else {"$eq": value}
            if not operators:
                raise FilterError(f"no operator for field {key!r}")
            if not all(_field_matches(key, operator, operand, metadata) for operator, operand in operators.items()):
                return False
    return True


def _field_matches(name: str, operator: str, operand: Any, metadata: Mapping[str, Any]) -> bool:
    present = name in metadata
    stored = metadata.get(name)
    values = stored if isinstance(stored, list) else [stored]
    if operator in {"$eq", "$ne"}:
        if not isinstance(operand, str | int | float | bool):
            raise FilterError(f"{operator} takes a string, number or boolean")
        hit = present and operand in values
        return hit if operator == "$eq" else not hit
    if operator in {"$in", "$nin"}:
        if not isinstance(operand, list) or not all(isinstance(item, str | int | float) for item in operand):
            raise FilterError(f"{operator} takes a list of strings or numbers")
        hit = present and any(item in operand for item in values)
        return hit if operator == "$in" else not hit
    if operator in _COMPARISONS:
        if isinstance(operand, bool) or not isinstance(operand, int | float):
            raise FilterError(f"{operator} takes a number")
        return (present and isinstance(stored, int | float) and not isinstance(stored, bool)
                and bool(_COMPARISONS[operator](stored, operand)))
    if operator == "$exists":
        if not isinstance(operand, bool):
            raise FilterError("$exists takes a boolean")
        return present == operand
    raise FilterError(f"unknown operator {operator}")


class _Server(ThreadingHTTPServer):
    daemon_threads = True
    fake: FakePinecone


class _Handler(BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"
    server: _Server

    def do_GET(self) -> None:
        self._answer()

    def do_POST(self) -> None:
        self._answer()

    def log_message(self, format: str, *args: Any) -> None:  # noqa: A002 - the stdlib's name
        """Silent: the tests read `requests`, and stderr is no place for an Api-Key header."""

    def _answer(self) -> None:
        length = int(self.headers.get("Content-Length") or 0)
        body = self.rfile.read(length) if length else b""
        request = RecordedRequest(method=self.command, path=self.path, body=body,
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
