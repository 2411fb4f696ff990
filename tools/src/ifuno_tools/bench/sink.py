"""The benchmark's mail server: Postfix's `smtp-sink`, a C SMTP sink.

A mail server in Python on the same two cores (aiosmtpd: about 1,000 messages/s
for a whole core) measured itself as much as the pipeline. `smtp-sink` takes
the messages and throws them away at several thousand per second for a few
per cent of a core; it comes from Debian's `postfix` package, unpacked into a
cache folder (`apt-get download` + `dpkg-deb -x`): the MTA is never installed
nor started.

When was each acknowledgement accepted? `smtp-sink -d` dumps each transaction
to its own file (on tmpfs: no disk in the measure). The file is created at
`MAIL FROM` and written until the final ".", just before the 250 reply, so
its modification time is when the message was accepted (to the kernel's file
clock, a few milliseconds); its first lines name the envelope recipient
(`X-Rcpt-Args: <…>`). `SinkMailbox.collect()` reads the finished files, keeps
the first acceptance per recipient and deletes them.

    python -m ifuno_tools.bench.sink fetch     # what `make bench` runs first
    python -m ifuno_tools.bench.sink ceiling   # smtp-source against smtp-sink
"""

from __future__ import annotations

import argparse
import os
import pwd
import re
import shutil
import subprocess
import tempfile
import time
from dataclasses import dataclass, field
from pathlib import Path

from ifuno_tools.bench.procstat import read_cpu
from ifuno_tools.local.lifetime import on_exit, spawn, terminate
from ifuno_tools.local.ports import free_port, wait_for_port

CACHE = Path(os.environ.get("IFUNO_BENCH_POSTFIX_DIR", ".cache/postfix"))
"""Where the `postfix` package is unpacked (the repository's `.cache/`, git-ignored)."""

SETTLE = 0.3
"""Seconds a dump file must be left untouched before it is read when its size alone
cannot tell it is finished (see `_finished`)."""

_RECIPIENT = re.compile(rb"^X-Rcpt-Args: <([^>]*)>", re.MULTILINE)
_HEAD = 2048


class SinkUnavailable(RuntimeError):
    """`smtp-sink` is neither in the cache nor obtainable here."""


@dataclass(frozen=True)
class PostfixTools:
    root: Path

    @property
    def sink(self) -> Path:
        return self.root / "usr" / "sbin" / "smtp-sink"

    @property
    def source(self) -> Path:
        return self.root / "usr" / "sbin" / "smtp-source"

    @property
    def environment(self) -> dict[str, str]:
        """The programs link Postfix's own libraries, unpacked beside them."""
        libraries = str(self.root / "usr" / "lib" / "postfix")
        inherited = os.environ.get("LD_LIBRARY_PATH")
        return {
            **os.environ,
            "LD_LIBRARY_PATH": f"{libraries}:{inherited}" if inherited else libraries,
        }


def postfix_tools(cache: Path = CACHE) -> PostfixTools:
    """The unpacked `postfix` package, fetched into `cache` the first time."""
    tools = PostfixTools(cache.resolve())
    if tools.sink.exists() and tools.source.exists():
        return tools
    for command in ("apt-get", "dpkg-deb"):
        if shutil.which(command) is None:
            raise SinkUnavailable(
                f"`{command}` not found: the benchmark's mail server is Postfix's smtp-sink, "
                "from Debian's `postfix` package. Fetch it where apt works with "
                f"`apt-get download postfix && dpkg-deb -x postfix_*.deb {cache}`."
            )
    cache.mkdir(parents=True, exist_ok=True)
    with tempfile.TemporaryDirectory(dir=cache) as download:
        if _download(Path(download)) != 0 and os.geteuid() == 0:
            subprocess.run(["apt-get", "update"], check=False, capture_output=True)
            _download(Path(download))
        packages = sorted(Path(download).glob("postfix_*.deb"))
        if not packages:
            raise SinkUnavailable(
                "`apt-get download postfix` fetched nothing (run `apt-get update` first, "
                "as root): the benchmark's mail server is Postfix's smtp-sink."
            )
        subprocess.run(["dpkg-deb", "-x", str(packages[-1]), str(cache)], check=True)
    if not tools.sink.exists():
        raise SinkUnavailable(f"the postfix package unpacked into {cache} has no smtp-sink")
    return tools


def _download(folder: Path) -> int:
    return subprocess.run(
        ["apt-get", "download", "postfix"], cwd=folder, capture_output=True, check=False
    ).returncode


def _as_nobody(folder: Path) -> tuple[list[str], list[str]]:
    """As root, smtp-sink must run as another user, who must own the dumps.
    Returns the command's prefix and smtp-sink's own options for it.

    `setpriv` drops to that user and only then asks for SIGKILL when this process
    dies: the kernel forgets a parent-death signal at a change of user, so with
    smtp-sink's own `-u` a crashed benchmark would leave the sink running."""
    if os.geteuid() != 0:
        return [], []
    nobody = pwd.getpwnam("nobody")
    os.chown(folder, nobody.pw_uid, nobody.pw_gid)
    setpriv = shutil.which("setpriv")
    if setpriv is None:
        return [], ["-u", "nobody"]
    return [
        setpriv,
        "--reuid",
        str(nobody.pw_uid),
        "--regid",
        str(nobody.pw_gid),
        "--clear-groups",
        "--pdeathsig",
        "KILL",
    ], []


@dataclass(eq=False)
class SmtpSink:
    """`smtp-sink` on a free loopback port, dumping each message under `dump_dir`
    (one folder per second of the wall clock, so that a look reads few names)."""

    dump_dir: Path
    tools: PostfixTools = field(default_factory=postfix_tools)
    port: int = field(default_factory=free_port)
    host: str = "127.0.0.1"
    dump: bool = True
    process: subprocess.Popen[bytes] | None = field(default=None, init=False)

    def command(self) -> list[str]:
        dump = ["-d", f"{self.dump_dir}/%Y%m%d%H%M%S/"] if self.dump else []
        prefix, options = _as_nobody(self.dump_dir)
        return [
            *prefix,
            str(self.tools.sink),
            *options,
            "-h",
            "localhost",
            "-m",
            "1024",
            *dump,
            f"{self.host}:{self.port}",
            "1024",
        ]

    def start(self) -> None:
        self.dump_dir.mkdir(parents=True, exist_ok=True)
        process = spawn(self.command(), env=self.tools.environment, output=subprocess.DEVNULL)
        self.process = process
        on_exit(self)
        wait_for_port(self.port, alive=lambda: process.poll() is None)

    @property
    def pid(self) -> int | None:
        return self.process.pid if self.process is not None else None

    def stop(self) -> None:
        process, self.process = self.process, None
        if process is not None:
            terminate(process)

    def __enter__(self) -> SmtpSink:
        self.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self.stop()


def parse_dump(head: bytes) -> list[str]:
    """The envelope recipients of a dumped transaction (lower case), from its head."""
    return [match.decode("ascii", "replace").lower() for match in _RECIPIENT.findall(head)]


def _finished(size: int, tail: bytes, untouched_for: float) -> bool:
    """A dump ends with the message and an empty line. smtp-sink writes a file in
    buffer-sized chunks (powers of two) until the final "."; a chunk may happen to
    end on an empty line, so a file of such a size must also have settled."""
    if size == 0 or not tail.endswith(b"\n\n"):
        return False
    return size % 4096 != 0 or untouched_for >= SETTLE


class SinkMailbox:
    """The acknowledgements seen so far: the first acceptance (wall clock, seconds)
    of each recipient. Reading costs CPU in the benchmark's own process: `cpu_seconds`
    counts it, to show it stays small against what is measured."""

    def __init__(self, dump_dir: Path) -> None:
        self.dump_dir = dump_dir
        self.first: dict[str, float] = {}
        self.messages = 0
        self.cpu_seconds = 0.0

    def collect(self) -> int:
        """Read the finished dumps; return how many messages were new."""
        started = time.thread_time()
        new = 0
        now = time.time()
        try:
            with os.scandir(self.dump_dir) as entries:
                folders = sorted(entry.path for entry in entries if entry.is_dir())
        except FileNotFoundError:
            folders = []
        for position, folder in enumerate(folders):
            remaining = 0
            with os.scandir(folder) as dumps:
                for dump in dumps:
                    if self._read(dump, now):
                        new += 1
                    else:
                        remaining += 1
            if remaining == 0 and position < len(folders) - 2:
                # Seconds long past: smtp-sink never writes there again.
                os.rmdir(folder)
        self.messages += new
        self.cpu_seconds += time.thread_time() - started
        return new

    def _read(self, entry: os.DirEntry[str], now: float) -> bool:
        status = entry.stat()
        with open(entry.path, "rb") as dump:
            head = dump.read(_HEAD)
            if status.st_size > _HEAD:
                dump.seek(-2, os.SEEK_END)
                tail = dump.read(2)
            else:
                tail = head[-2:]
        accepted = status.st_mtime_ns / 1e9
        if not _finished(status.st_size, tail, now - accepted):
            return False
        for recipient in parse_dump(head):
            if recipient not in self.first or accepted < self.first[recipient]:
                self.first[recipient] = accepted
        os.unlink(entry.path)
        return True


def ceiling(
    tools: PostfixTools,
    *,
    sessions: int = 8,
    size: int = 2048,
    messages: int = 20_000,
    dump: bool = True,
) -> dict[str, float | int | bool]:
    """The sink's own ceiling on this machine: Postfix's `smtp-source` (C, one message
    at a time per session, no pipelining) against `smtp-sink` set up as in the
    benchmark, its dumps read and deleted as the benchmark does."""
    with tempfile.TemporaryDirectory(prefix="ifuno-sink-", dir=tmpfs_dir()) as folder:
        sink = SmtpSink(Path(folder), tools, dump=dump)
        mailbox = SinkMailbox(Path(folder))
        with sink:
            started = time.perf_counter()
            subprocess.run(
                [
                    str(tools.source),
                    "-s",
                    str(sessions),
                    "-l",
                    str(size),
                    "-m",
                    str(messages),
                    "-d",
                    "-M",
                    "localhost",
                    "-f",
                    "bench@localhost",
                    "-t",
                    "sink@localhost",
                    f"{sink.host}:{sink.port}",
                ],
                env=tools.environment,
                check=True,
                capture_output=True,
            )
            seconds = time.perf_counter() - started
            sink_cpu = read_cpu(sink.pid).seconds if sink.pid is not None else 0.0
        while dump and mailbox.collect():
            pass
    return {
        "sessions": sessions,
        "message_bytes": size,
        "messages": messages,
        "dump": dump,
        "seconds": round(seconds, 3),
        "messages_per_second": round(messages / seconds),
        "sink_cpu_seconds": round(sink_cpu, 3),
        "reading_cpu_seconds": round(mailbox.cpu_seconds, 3),
    }


def tmpfs_dir() -> str | None:
    """/dev/shm where there is one: the sink's dumps then never touch a disk."""
    return "/dev/shm" if os.path.isdir("/dev/shm") and os.access("/dev/shm", os.W_OK) else None


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(prog="python -m ifuno_tools.bench.sink")
    parser.add_argument("action", choices=("fetch", "ceiling"))
    args = parser.parse_args(argv)
    try:
        tools = postfix_tools()
    except SinkUnavailable as error:
        raise SystemExit(str(error)) from error
    if args.action == "fetch":
        print(f"smtp-sink: {tools.sink}")
    else:
        for dump in (False, True):
            print(ceiling(tools, dump=dump))


if __name__ == "__main__":
    main()
