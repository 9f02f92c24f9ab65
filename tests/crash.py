"""One harness for the kill -9 tests: start the victim, kill it (at a random moment, or let it kill itself at an
exact one), collect what it acknowledged.

The victims are separate processes killed by a real SIGKILL, as before, but they are forked from an interpreter
that has already imported them (``Preloaded``): a fresh ``python -m ...`` spends most of a second importing
SQLAlchemy, Litestar and the app before its first write, and the tests start tens of them. The fork happens
before anything is opened (no engine, no connection, no file), so each victim starts as a new process would:
it reads its arguments and environment, connects, writes, and prints ``ACK ...`` lines (flushed) to a pipe.

Run as ``python -m tests.crash MODULE [PRELOAD ...]`` it is that interpreter (the test starts it).
"""

from __future__ import annotations

import importlib
import json
import os
import random
import signal
import socket
import subprocess
import sys
import tempfile
import time
import traceback
from collections.abc import Iterator, Mapping
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path
from typing import IO, Any

ROOT = Path(__file__).resolve().parents[1]


class Victim:
    """A forked victim: its pid, its stdout (a pipe), its stderr (a file); waited for through the interpreter."""

    def __init__(self, control: socket.socket, pid: int, stdout: IO[str], stderr: IO[str]) -> None:
        self._control = control
        self.pid = pid
        self.stdout = stdout
        self._stderr = stderr
        self.returncode: int | None = None

    def wait(self, timeout: float | None = None) -> int:
        if self.returncode is None:
            self._control.settimeout(timeout)
            try:
                message = _receive(self._control)
            except TimeoutError:
                raise subprocess.TimeoutExpired(f"victim {self.pid}", timeout or 0) from None
            finally:
                self._control.settimeout(None)
            assert message["pid"] == self.pid, message
            self.returncode = int(message["returncode"])  # -9 for a SIGKILL, as subprocess tells it
        return self.returncode

    def kill(self) -> None:
        os.kill(self.pid, signal.SIGKILL)

    def communicate(self, timeout: float | None = None) -> tuple[str, str]:
        out = self.stdout.read()
        self.stdout.close()
        self.wait(timeout)
        return out, self.stderr_text()

    def stderr_text(self) -> str:
        self._stderr.seek(0)
        return self._stderr.read()


class Preloaded:
    """A Python process that has imported ``module`` (and ``preload``); ``start`` forks a run of ``module.main``."""

    def __init__(self, module: str, *preload: str) -> None:
        self._control, theirs = socket.socketpair()
        self._proc = subprocess.Popen([sys.executable, "-m", "tests.crash", str(theirs.fileno()), module, *preload],
                                      cwd=ROOT, pass_fds=[theirs.fileno()])
        theirs.close()
        ready = _receive(self._control)
        assert ready == {"ready": module}, ready

    def start(self, argv: list[str], env: Mapping[str, str] | None = None) -> Victim:
        """Run ``module.main()`` in a new child with ``sys.argv[1:] == argv`` and ``env`` (default: this one's)."""
        read_end, write_end = os.pipe()
        stderr = tempfile.TemporaryFile("w+", encoding="utf-8")  # noqa: SIM115 - owned by the Victim
        request = json.dumps({"argv": argv, "env": dict(os.environ if env is None else env)}).encode() + b"\n"
        socket.send_fds(self._control, [request], [write_end, stderr.fileno()])
        os.close(write_end)
        started = _receive(self._control)
        return Victim(self._control, int(started["pid"]), os.fdopen(read_end, encoding="utf-8"), stderr)

    def close(self) -> None:
        self._control.close()  # the interpreter sees end of file and exits
        self._proc.wait(timeout=30)


@contextmanager
def preloaded(module: str, *preload: str) -> Iterator[Preloaded]:
    interpreter = Preloaded(module, *preload)
    try:
        yield interpreter
    finally:
        interpreter.close()


@dataclass
class Kill:
    """What one run told before it died (or, if allowed, finished): its ``ACK`` lines split into numbers."""

    returncode: int
    acks: list[tuple[int, int]] = field(default_factory=list)
    stderr: str = ""


def run_and_kill(victims: Preloaded, argv: list[str], rng: random.Random, *, kill_at: tuple[str, int] | None,
                 after: tuple[float, float], env: Mapping[str, str] | None = None) -> Kill:
    """One run: with ``kill_at=(moment, nth)`` it kills itself there (see ``tests.fund_caller_writer.kill_at``)
    and must die by SIGKILL; otherwise it is killed ``rng.uniform(*after)`` seconds after its first line."""
    extra = {"KILL_AT": kill_at[0], "KILL_NTH": str(kill_at[1])} if kill_at else {}
    victim = victims.start(argv, {**(os.environ if env is None else env), **extra})
    first = victim.stdout.readline()  # working until its first write returns
    if kill_at:
        victim.wait(timeout=120)
        assert victim.returncode == -signal.SIGKILL, victim.stderr_text()
    else:
        time.sleep(rng.uniform(*after))
        victim.kill()
    out, err = victim.communicate(timeout=120)
    acks = [(int(a), int(b)) for line in [first, *out.splitlines()] if line.startswith("ACK")
            for _, a, b in [line.split()]]
    return Kill(victim.returncode or 0, acks, err)


# --- the preloaded interpreter ------------------------------------------------------------------------------

def _send(sock: socket.socket, message: dict[str, Any]) -> None:
    sock.sendall(json.dumps(message).encode() + b"\n")


def _receive(sock: socket.socket) -> dict[str, Any]:
    data = b""
    while not data.endswith(b"\n"):
        chunk = sock.recv(1)
        if not chunk:
            raise EOFError("the preloaded interpreter went away")
        data += chunk
    result: dict[str, Any] = json.loads(data)
    return result


def _child(module: Any, control: socket.socket, argv: list[str], env: dict[str, str], out_fd: int,
           err_fd: int) -> None:
    control.close()
    os.dup2(out_fd, 1)
    os.dup2(err_fd, 2)
    os.close(out_fd)
    os.close(err_fd)
    os.environ.clear()
    os.environ.update(env)
    sys.argv = [module.__name__, *argv]
    code = 0
    try:
        module.main()
    except SystemExit as exc:
        code = exc.code if isinstance(exc.code, int) else (0 if exc.code is None else 1)
    except BaseException:  # a victim's error is reported as a subprocess's would be
        traceback.print_exc()
        code = 1
    finally:
        sys.stdout.flush()
        sys.stderr.flush()
    os._exit(code)


def _serve(control: socket.socket, module_name: str, preload: list[str]) -> None:
    module = importlib.import_module(module_name)
    for name in preload:
        importlib.import_module(name)
    _send(control, {"ready": module_name})
    previous: int | None = None
    while True:
        try:
            request, fds, _, _ = socket.recv_fds(control, 1 << 20, 2)
        except OSError:
            request = b""
        if previous is not None:
            os.waitpid(previous, 0)  # reap the last run now that the test has moved on
            previous = None
        if not request:
            return  # the test closed its end
        while not request.endswith(b"\n"):  # a long environment may arrive in pieces
            request += control.recv(1 << 20)
        message = json.loads(request)
        pid = os.fork()
        if pid == 0:
            _child(module, control, message["argv"], message["env"], fds[0], fds[1])
        for fd in fds:
            os.close(fd)
        _send(control, {"pid": pid})
        # Learn how it ended but leave it a zombie until the next run: the test may still send its SIGKILL
        # to a victim that has just finished (as to a subprocess not yet waited for), never to a reused pid.
        info = os.waitid(os.P_PID, pid, os.WEXITED | os.WNOWAIT)
        assert info is not None
        code = info.si_status if info.si_code == os.CLD_EXITED else -info.si_status
        _send(control, {"pid": pid, "returncode": code})
        previous = pid


if __name__ == "__main__":
    _serve(socket.socket(fileno=int(sys.argv[1])), sys.argv[2], sys.argv[3:])
