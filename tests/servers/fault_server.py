"""A small OpenAI-compatible chat server of ours that injects faults on request (stdlib only, 127.0.0.1).

Answers are deterministic: the same messages and seed give the same text. A fault plan maps a marker
(a substring of the user message) to the actions of successive attempts, e.g.
`{"Zorvane": ["http_500", "http_429", "ok"]}`; after its list the marker's requests succeed. Actions:
ok, http_500, http_503, http_429 (Retry-After: 1), http_400, hang (sleeps past the client's timeout, then
answers), not_json (200 with an HTML body), missing_choices (200 JSON without choices), missing_fields
(200 with an answer whose JSON lacks the label), length (200 with the answer cut in half and
`finish_reason: "length"`, as a server reports an answer stopped at max_tokens), always_500 (every attempt),
echo_credentials (401 whose body repeats the Authorization header, the password it carries and the request's
query string, as careless servers do). The server counts every
request, stops itself after `lifetime` seconds, and is bounded to `max_requests` answers.

`response_format` says what it does with a request's `response_format` (a JSON schema): `ignore` (the
default; like `transformers serve`, which logs and ignores it), `accept` (the answer follows the schema, as
a server with constrained decoding would give), `refuse` (400 naming the field, like a server without it).
"""

from __future__ import annotations

import hashlib
import json
import re
import threading
import time
from collections import Counter
from collections.abc import Callable
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any

DEFAULT_LIFETIME = 300.0
RESPONSE_FORMAT_MODES = ("ignore", "accept", "refuse")


def deterministic_answer(body: dict[str, Any]) -> str:
    """A valid record as JSON, different for every (prompt, seed) and the same every time."""
    user = next((m["content"] for m in body.get("messages", []) if m.get("role") == "user"), "")
    digest = hashlib.sha256(f"{user}|{body.get('seed')}".encode()).hexdigest()
    words = [f"w{digest[i : i + 4]}" for i in range(0, 40, 4)]
    topic = re.search(r"\b([A-Z][a-z]+ane)\b", user)
    name = topic.group(1) if topic else "something"
    return json.dumps(
        {
            "question": f"Does {name} change {' '.join(words[:5])}?",
            "context": f"A reworded study of {name}: {' '.join(words)}.",
            "long_answer": f"{name} made a difference to {' '.join(words[5:])}.",
            "label": "yes",
        }
    )


class _QuietServer(ThreadingHTTPServer):
    def handle_error(self, request, client_address) -> None:
        """A client that gave up (timeout) closes the socket under a hanging answer: expected, not an error."""
        import sys

        if not isinstance(sys.exc_info()[1], (BrokenPipeError, ConnectionResetError)):
            super().handle_error(request, client_address)


class FaultServer:
    def __init__(
        self,
        plan: dict[str, list[str]] | None = None,
        answer: Callable[[dict[str, Any]], str] = deterministic_answer,
        delay: float = 0.0,
        hang_seconds: float = 3.0,
        lifetime: float = DEFAULT_LIFETIME,
        max_requests: int = 100_000,
        response_format: str = "ignore",
    ) -> None:
        if response_format not in RESPONSE_FORMAT_MODES:
            raise ValueError(f"response_format={response_format!r}: use one of {RESPONSE_FORMAT_MODES}")
        self.response_format = response_format
        self.plan = {marker: list(actions) for marker, actions in (plan or {}).items()}
        self.answer = answer
        self.delay = delay
        self.hang_seconds = hang_seconds
        self.lifetime = lifetime
        self.max_requests = max_requests
        self.requests: list[dict[str, Any]] = []  # every chat request: body, action, authorization seen
        self.actions: Counter = Counter()
        self._attempts: Counter = Counter()
        self._lock = threading.Lock()
        self._server = _QuietServer(("127.0.0.1", 0), self._handler_class())
        self._server.daemon_threads = True
        self._thread = threading.Thread(target=self._server.serve_forever, daemon=True)
        self._timer = threading.Timer(lifetime, self.stop)
        self._timer.daemon = True

    @property
    def base_url(self) -> str:
        return f"http://127.0.0.1:{self._server.server_port}/v1"

    def start(self) -> FaultServer:
        self._thread.start()
        self._timer.start()
        return self

    def stop(self) -> None:
        self._timer.cancel()
        self._server.shutdown()
        self._server.server_close()

    def __enter__(self) -> FaultServer:
        return self.start()

    def __exit__(self, *exc_info: object) -> None:
        self.stop()

    def user_messages(self) -> list[str]:
        with self._lock:
            return [_user_text(entry["body"]) for entry in self.requests]

    def _next_action(self, body: dict[str, Any]) -> str:
        user = _user_text(body)
        with self._lock:
            for marker, actions in self.plan.items():
                if marker in user:
                    attempt = self._attempts[(marker, body.get("seed"))]
                    self._attempts[(marker, body.get("seed"))] += 1
                    if actions and actions[0] == "always_500":
                        return "http_500"
                    return actions[attempt] if attempt < len(actions) else "ok"
        return "ok"

    def _handler_class(self):
        server = self

        class Handler(BaseHTTPRequestHandler):
            protocol_version = "HTTP/1.1"

            def log_message(self, *args: Any) -> None:  # quiet test output
                pass

            def _send(self, status: int, payload: bytes, content_type: str, headers: dict | None = None):
                self.send_response(status)
                self.send_header("Content-Type", content_type)
                self.send_header("Content-Length", str(len(payload)))
                for name, value in (headers or {}).items():
                    self.send_header(name, value)
                self.end_headers()
                self.wfile.write(payload)

            def do_GET(self) -> None:
                if self.path.rstrip("/").endswith("/models"):
                    data = {"object": "list", "data": [{"id": "fault-model", "object": "model"}]}
                    self._send(200, json.dumps(data).encode(), "application/json")
                else:
                    self._send(200, b'{"status": "ok"}', "application/json")

            def do_POST(self) -> None:
                length = int(self.headers.get("Content-Length", 0))
                body = json.loads(self.rfile.read(length) or b"{}")
                action = server._next_action(body)
                if "response_format" in body and server.response_format == "refuse":
                    action = "refuse_response_format"
                with server._lock:
                    if len(server.requests) >= server.max_requests:
                        action = "http_503"
                    server.requests.append(
                        {
                            "body": body,
                            "action": action,
                            "authorization": self.headers.get("Authorization"),
                            "time": time.monotonic(),
                        }
                    )
                    server.actions[action] += 1
                if server.delay:
                    time.sleep(server.delay)
                self._answer(action, body)

            def _answer(self, action: str, body: dict[str, Any]) -> None:
                error = json.dumps({"error": {"message": f"injected {action}", "type": "test"}}).encode()
                if action == "refuse_response_format":
                    refusal = {
                        "error": {
                            "message": "response_format is not supported by this server",
                            "type": "invalid_request_error",
                            "param": "response_format",
                        }
                    }
                    self._send(400, json.dumps(refusal).encode(), "application/json")
                elif action == "echo_credentials":
                    self._send(401, json.dumps(_credentials_echo(self)).encode(), "application/json")
                elif action in ("http_500", "http_503", "http_400"):
                    self._send(int(action[-3:]), error, "application/json")
                elif action == "http_429":
                    self._send(429, error, "application/json", {"Retry-After": "1"})
                elif action == "not_json":
                    self._send(200, b"<html>upstream hiccup</html>", "application/json")
                elif action == "missing_choices":
                    self._send(200, b'{"id": "x", "object": "chat.completion"}', "application/json")
                else:
                    if action == "hang":
                        time.sleep(server.hang_seconds)
                    text = server.answer(body)
                    if "response_format" in body and server.response_format == "accept":
                        text = answer_following_schema(text, body["response_format"])
                    if action == "missing_fields":
                        text = json.dumps({"question": "Is something unlabelled?"})
                    finish = "stop"
                    if action == "length":
                        text, finish = text[: len(text) // 2], "length"
                    self._send(200, json.dumps(_completion(body, text, finish)).encode(), "application/json")

        return Handler


def answer_following_schema(text: str, response_format: dict[str, Any]) -> str:
    """`text` made to follow the request's JSON schema, as constrained decoding would: the schema's keys in
    order, values taken from `text`'s JSON where they fit, enums and length bounds kept."""
    try:
        given = json.loads(text)
    except json.JSONDecodeError:
        given = {}
    schema = response_format["json_schema"]["schema"]
    answer = {}
    for name, rule in schema["properties"].items():
        value = given.get(name) if isinstance(given, dict) else None
        if "enum" in rule:
            answer[name] = value if value in rule["enum"] else rule["enum"][0]
            continue
        value = value if isinstance(value, str) and value else f"A constrained {name}"
        value = value.ljust(rule.get("minLength", 0), ".")
        answer[name] = value[: rule.get("maxLength", len(value))]
    return json.dumps(answer)


def _credentials_echo(handler: BaseHTTPRequestHandler) -> dict[str, Any]:
    """An error body that gives back every credential the request carried, in plain text."""
    import base64

    authorization = handler.headers.get("Authorization") or ""
    scheme, _, credentials = authorization.partition(" ")
    password = ""
    if scheme.lower() == "basic":
        password = base64.b64decode(credentials).decode("utf-8", "replace").partition(":")[2]
    message = f"invalid credentials: Authorization: {authorization}; password {password}; path {handler.path}"
    return {
        "error": {"message": message, "type": "auth", "authorization": authorization, "password": password}
    }


def _user_text(body: dict[str, Any]) -> str:
    return "\n".join(m.get("content", "") for m in body.get("messages", []) if m.get("role") == "user")


def _completion(body: dict[str, Any], text: str, finish_reason: str = "stop") -> dict[str, Any]:
    return {
        "id": "chatcmpl-test",
        "object": "chat.completion",
        "created": 0,
        "model": body.get("model", "fault-model"),
        "choices": [
            {"index": 0, "finish_reason": finish_reason, "message": {"role": "assistant", "content": text}}
        ],
        "usage": usage(body, text),
    }


def usage(body: dict[str, Any], text: str) -> dict[str, int]:
    """Token counts as a server reports them: here whitespace-separated words, different for every answer."""
    prompt = sum(len(str(m.get("content", "")).split()) for m in body.get("messages", []))
    completion = len(text.split())
    return {"prompt_tokens": prompt, "completion_tokens": completion, "total_tokens": prompt + completion}


if __name__ == "__main__":  # a standalone server for the benchmark or manual runs
    import argparse

    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--delay", type=float, default=0.0)
    parser.add_argument("--lifetime", type=float, default=DEFAULT_LIFETIME)
    parser.add_argument("--response-format", choices=RESPONSE_FORMAT_MODES, default="ignore")
    arguments = parser.parse_args()
    with FaultServer(
        delay=arguments.delay, lifetime=arguments.lifetime, response_format=arguments.response_format
    ) as fault_server:
        print(fault_server.base_url, flush=True)
        time.sleep(arguments.lifetime)
