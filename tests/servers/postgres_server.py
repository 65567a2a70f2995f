"""A real PostgreSQL server in a temporary directory, with password authentication, for storage tests.

Uses the Debian `postgresql` package (installed with apt when missing and we are root). PostgreSQL refuses to run
as root, so as root the server runs as the `postgres` user the package creates.
"""

from __future__ import annotations

import glob
import os
import shutil
import socket
import subprocess
import tempfile
from pathlib import Path

USER = "taskexpert"


class PostgresUnavailable(RuntimeError):
    """No PostgreSQL binaries here and no way to install them."""


def _bin_dir() -> Path | None:
    found = shutil.which("pg_ctl")
    if found:
        return Path(found).resolve().parent
    candidates = sorted(glob.glob("/usr/lib/postgresql/*/bin/pg_ctl"))
    return Path(candidates[-1]).parent if candidates else None


def _install() -> Path:
    if _bin_dir() is None and os.geteuid() == 0 and shutil.which("apt-get"):
        subprocess.run(["apt-get", "update", "-qq"], capture_output=True, timeout=300)
        subprocess.run(
            ["apt-get", "install", "-y", "-qq", "--no-install-recommends", "postgresql"],
            capture_output=True,
            timeout=600,
            env={**os.environ, "DEBIAN_FRONTEND": "noninteractive"},
        )
    bin_dir = _bin_dir()
    if bin_dir is None:
        raise PostgresUnavailable("PostgreSQL is not installed and apt-get cannot install it here")
    return bin_dir


def _free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return probe.getsockname()[1]


class PostgresServer:
    """`with PostgresServer(password) as server:` ... `server.url(driver)`; stopped and deleted on exit."""

    def __init__(self, password: str) -> None:
        self.password = password
        self.port = _free_port()
        self._bin = _install()
        self._as_postgres = ["runuser", "-u", "postgres", "--"] if os.geteuid() == 0 else []
        self.directory = Path(tempfile.mkdtemp(prefix="taskexpert-postgres-"))

    def url(self, driver: str = "postgresql+psycopg", database: str = "postgres") -> str:
        return f"{driver}://{USER}:{self.password}@127.0.0.1:{self.port}/{database}"

    def _run(self, *command: str) -> None:
        result = subprocess.run(
            [*self._as_postgres, *command], capture_output=True, text=True, timeout=120, cwd=self.directory
        )
        if result.returncode != 0:
            raise RuntimeError(f"{command[0]} failed: {result.stdout[-1500:]}{result.stderr[-1500:]}")

    def __enter__(self) -> PostgresServer:
        data, password_file = self.directory / "data", self.directory / "password"
        password_file.write_text(self.password)
        if self._as_postgres:
            shutil.chown(self.directory, "postgres")
            shutil.chown(password_file, "postgres")
        try:
            self._run(
                str(self._bin / "initdb"), "-D", str(data), "-U", USER, f"--pwfile={password_file}",
                "--auth=scram-sha-256", "-E", "UTF8", "--no-sync",
            )  # fmt: skip
        finally:
            password_file.unlink()
        options = f"-p {self.port} -k {self.directory} -c listen_addresses=127.0.0.1 -c fsync=off"
        self._run(str(self._bin / "pg_ctl"), "-D", str(data), "-o", options, "-l", str(self.directory / "log"), "-w", "start")  # fmt: skip
        return self

    def __exit__(self, *exc_info: object) -> None:
        try:
            self._run(
                str(self._bin / "pg_ctl"), "-D", str(self.directory / "data"), "-m", "immediate", "stop"
            )
        finally:
            shutil.rmtree(self.directory, ignore_errors=True)
