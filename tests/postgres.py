"""A PostgreSQL server from Debian's packages, started in a temporary folder for the tests and
bench/ (never the system's cluster): initdb as the unprivileged `postgres` user when run as
root, listening on 127.0.0.1 only, fsync off. Connections over TCP need the password, so the
URLs carry one and its masking is exercised; the socket folder is the temporary one.

A missing PostgreSQL is a failure, never a skip: `.ci/run` installs Debian's `postgresql`.
"""

from __future__ import annotations

import glob
import itertools
import os
import shutil
import socket
import subprocess
import tempfile
from pathlib import Path
from urllib.parse import quote

USER = "sms"
PASSWORD = "s3cr%t/p@ss:w0rd"  # characters a URL must escape: masking must still find it
_schemas = itertools.count(1)


def bindir() -> Path:
    """Where initdb and pg_ctl are: pg_config's answer, else the newest Debian version."""
    found = [Path(p) for p in sorted(glob.glob("/usr/lib/postgresql/*/bin"),
                                     key=lambda p: int(p.split("/")[-2]))]
    try:
        out = subprocess.run(["pg_config", "--bindir"], capture_output=True, text=True,
                             check=True).stdout.strip()
        found.append(Path(out))
    except (OSError, subprocess.CalledProcessError):
        pass
    for path in reversed(found):
        if (path / "initdb").exists() and (path / "pg_ctl").exists():
            return path
    raise RuntimeError("PostgreSQL's initdb and pg_ctl are not installed: apt-get install "
                       "postgresql (.ci/run does)")


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


class PostgresServer:
    """One server in its own folder; `url()` for a database, `fresh_url()` for a new schema."""

    def __init__(self) -> None:
        self.root = Path(tempfile.mkdtemp(prefix="sms-notify-pg-"))
        self.data = self.root / "data"
        self.log = self.root / "log"
        self.port = free_port()
        self.bin = bindir()
        self._as: list[str] = []
        if os.geteuid() == 0:  # initdb refuses root: the folder is postgres's, and so is the server
            shutil.chown(self.root, "postgres")
            self._as = ["runuser", "-u", "postgres", "--"]

    def _run(self, *args: str) -> None:
        result = subprocess.run([*self._as, *args], capture_output=True, text=True)
        if result.returncode:
            log = self.log.read_text(errors="replace")[-3000:] if self.log.exists() else ""
            raise RuntimeError(f"{' '.join(args[:2])} failed: {result.stderr.strip()}\n{log}")

    def start(self) -> PostgresServer:
        if not self.data.exists():
            pwfile = self.root / "pw"
            pwfile.write_text(PASSWORD + "\n")
            if self._as:
                shutil.chown(pwfile, "postgres")
            self._run(str(self.bin / "initdb"), "-D", str(self.data), "-U", USER,
                      f"--pwfile={pwfile}", "--auth-local=trust", "--auth-host=scram-sha-256",
                      "--no-sync", "-E", "UTF8", "--locale=C")
            pwfile.unlink()
        options = (f"-k {self.root} -c listen_addresses=127.0.0.1 -p {self.port} -c fsync=off"
                   " -c synchronous_commit=off -c full_page_writes=off -c max_connections=200")
        self._run(str(self.bin / "pg_ctl"), "-D", str(self.data), "-o", options,
                  "-l", str(self.log), "-w", "-t", "60", "start")
        return self

    def stop(self, mode: str = "fast") -> None:
        """Stop the server (`immediate`: as if it crashed); the data stays for start()."""
        self._run(str(self.bin / "pg_ctl"), "-D", str(self.data), "-m", mode, "-w", "stop")

    def remove(self) -> None:
        try:
            self.stop("immediate")
        except RuntimeError:
            pass
        shutil.rmtree(self.root, ignore_errors=True)

    def url(self, database: str = "postgres", **params: str) -> str:
        query = "&".join(f"{k}={quote(v, safe='')}" for k, v in params.items())
        return (f"postgresql://{USER}:{quote(PASSWORD, safe='')}@127.0.0.1:{self.port}/"
                f"{database}{'?' + query if query else ''}")

    def execute(self, sql: str) -> None:
        import psycopg

        with psycopg.connect(self.url(), autocommit=True) as conn:
            conn.execute(sql)  # type: ignore[arg-type]

    def fresh_url(self) -> str:
        """A URL whose tables live in a schema of their own: an empty outbox."""
        schema = f"t{next(_schemas)}_{os.getpid()}"
        self.execute(f"CREATE SCHEMA {schema}")
        return self.url(options=f"-csearch_path={schema}")

    def fresh_database(self) -> str:
        """A URL to a database of its own (LISTEN/NOTIFY and advisory locks are per database)."""
        name = f"db{next(_schemas)}_{os.getpid()}"
        self.execute(f"CREATE DATABASE {name}")
        return self.url(name)
