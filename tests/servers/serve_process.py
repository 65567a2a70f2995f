"""A real `transformers serve` process on a local model directory, started and stopped by a test."""

from __future__ import annotations

import os
import shutil
import socket
import subprocess
import sys
import time
import urllib.request
from pathlib import Path

# The tiny tokenizer has no chat template and `transformers serve` needs one: a plain one of ours.
PLAIN_CHAT_TEMPLATE = (
    "{% for message in messages %}{{ message['role'] }}: {{ message['content'] }}\n{% endfor %}"
    "{% if add_generation_prompt %}assistant: {% endif %}"
)


def free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return probe.getsockname()[1]


def with_chat_template(model_dir: Path, copy_to: Path) -> Path:
    """A copy of `model_dir` whose tokenizer has a chat template."""
    shutil.copytree(model_dir, copy_to)
    (copy_to / "chat_template.jinja").write_text(PLAIN_CHAT_TEMPLATE, encoding="utf-8")
    return copy_to


class TransformersServe:
    """`transformers serve MODEL_DIR --port N` on 127.0.0.1; waits for /health, stops by its pid."""

    def __init__(self, model_dir: Path, log_path: Path, startup_timeout: float = 180.0) -> None:
        self.model_dir = model_dir
        self.port = free_port()
        self.log_path = log_path
        self.startup_timeout = startup_timeout
        self.process: subprocess.Popen | None = None

    @property
    def base_url(self) -> str:
        return f"http://127.0.0.1:{self.port}/v1"

    def __enter__(self) -> TransformersServe:
        executable = Path(sys.executable).parent / "transformers"
        env = {**os.environ, "HF_HUB_OFFLINE": "1", "TOKENIZERS_PARALLELISM": "false"}
        self._log = self.log_path.open("w")
        self.process = subprocess.Popen(
            [str(executable), "serve", str(self.model_dir), "--host", "127.0.0.1", "--port", str(self.port)],
            stdout=self._log,
            stderr=subprocess.STDOUT,
            env=env,
        )
        deadline = time.monotonic() + self.startup_timeout
        while time.monotonic() < deadline:
            if self.process.poll() is not None:
                raise RuntimeError(f"transformers serve exited: {self.log_path.read_text()[-2000:]}")
            try:
                with urllib.request.urlopen(f"http://127.0.0.1:{self.port}/health", timeout=2) as answer:
                    if answer.status == 200:
                        return self
            except OSError:
                time.sleep(0.5)
        self.__exit__()
        raise RuntimeError(f"transformers serve did not come up in {self.startup_timeout:.0f} s")

    def __exit__(self, *exc_info: object) -> None:
        if self.process is not None and self.process.poll() is None:
            self.process.terminate()
            try:
                self.process.wait(timeout=20)
            except subprocess.TimeoutExpired:
                self.process.kill()
                self.process.wait(timeout=20)
        self._log.close()
