"""A real, throw-away PostgreSQL server for the connector tests (Debian's postgresql package).

``initdb`` and ``pg_ctl`` come from PATH or /usr/lib/postgresql/*/bin (where Debian installs
them: .ci/run installs the ``postgresql`` package). The cluster lives in a temporary folder,
listens on a free loopback port and a Unix socket in that folder, asks for a password
(scram-sha-256: the tests check it never leaks), and runs without fsync (tests only). As root
(containers, CI) the server runs as ``nobody``, since Postgres refuses to run as root.
"""

from __future__ import annotations

import contextlib
import glob
import os
import pwd
import secrets
import shutil
import socket
import subprocess
import tempfile
from dataclasses import dataclass
from pathlib import Path

USER = "eventlab"


def find_bin() -> Path | None:
    """The folder holding initdb and pg_ctl, or None."""
    on_path = shutil.which("initdb")
    if on_path and shutil.which("pg_ctl"):
        return Path(os.path.realpath(on_path)).parent
    found = sorted(glob.glob("/usr/lib/postgresql/*/bin/initdb"), reverse=True)
    return Path(found[0]).parent if found else None


def free_port() -> int:
    with contextlib.closing(socket.socket(socket.AF_INET, socket.SOCK_STREAM)) as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


@dataclass
class PgServer:
    bin: Path
    folder: Path
    port: int
    password: str
    run_as: str | None

    @property
    def url(self) -> str:
        return f"postgresql://{USER}:{self.password}@127.0.0.1:{self.port}/postgres"

    def _run(self, *args: str) -> None:
        subprocess.run(list(args), check=True, capture_output=True, text=True,
                       user=self.run_as, timeout=120)

    def start(self) -> None:
        data, sock = self.folder / "data", self.folder / "sock"
        pwfile = self.folder / "pw"
        pwfile.write_text(self.password)
        sock.mkdir()
        if self.run_as:
            os.chmod(self.folder, 0o755)
            uid = pwd.getpwnam(self.run_as).pw_uid
            for path in (self.folder, sock, pwfile):
                os.chown(path, uid, -1)
        self._run(str(self.bin / "initdb"), "-D", str(data), "-U", USER, "--auth=scram-sha-256",
                  f"--pwfile={pwfile}", "-E", "UTF8", "--locale=C.UTF-8", "--no-sync")
        options = (f"-p {self.port} -k {sock} -c listen_addresses=127.0.0.1 -c fsync=off "
                   "-c synchronous_commit=off -c full_page_writes=off -c max_connections=40")
        self._run(str(self.bin / "pg_ctl"), "-D", str(data), "-o", options, "-w", "-t", "60",
                  "-l", str(self.folder / "server.log"), "start")

    def stop(self) -> None:
        with contextlib.suppress(subprocess.SubprocessError, OSError):
            self._run(str(self.bin / "pg_ctl"), "-D", str(self.folder / "data"), "-m", "fast",
                      "-w", "stop")
        shutil.rmtree(self.folder, ignore_errors=True)


def start_server() -> PgServer:
    """Start a server (raises RuntimeError with the reason when that is impossible)."""
    folder = find_bin()
    if folder is None:
        raise RuntimeError("no initdb/pg_ctl on PATH or in /usr/lib/postgresql/*/bin "
                           "(apt-get install postgresql)")
    run_as = "nobody" if os.geteuid() == 0 else None
    server = PgServer(folder, Path(tempfile.mkdtemp(prefix="eventlab-pg-")), free_port(),
                      "pw-" + secrets.token_hex(12), run_as)
    try:
        server.start()
    except subprocess.CalledProcessError as exc:
        log = server.folder / "server.log"
        detail = (exc.stderr or "") + (log.read_text()[-2000:] if log.exists() else "")
        server.stop()
        raise RuntimeError(f"postgres did not start: {detail}") from None
    return server
