"""One process per workspace: an exclusive, non-blocking lock on ``<workspace>.lock``."""

import os
from pathlib import Path

from .journal import StoreError

try:
    import fcntl
except ImportError:  # Windows
    fcntl = None  # type: ignore[assignment]
    import msvcrt


class WorkspaceLock:
    """Held while a process has the workspace open; the kernel drops it if the process dies."""

    def __init__(self, workspace: Path) -> None:
        self.workspace = workspace
        self.path = workspace.with_name(workspace.name + ".lock")
        self._fd: int | None = None

    def acquire(self) -> None:
        try:
            fd = os.open(self.path, os.O_RDWR | os.O_CREAT, 0o644)
        except OSError as error:
            raise StoreError(f"cannot create lock file {self.path}: {error.strerror}") from None
        try:
            if fcntl is not None:
                fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
            else:
                msvcrt.locking(fd, msvcrt.LK_NBLCK, 1)
        except OSError:
            holder = os.read(fd, 32).decode(errors="replace").strip() or "unknown"
            os.close(fd)
            raise StoreError(
                f"workspace {self.workspace} is already open in another tui-billing "
                f"process (pid {holder}); close it first or use another --db"
            ) from None
        os.ftruncate(fd, 0)
        os.write(fd, str(os.getpid()).encode())
        self._fd = fd

    def release(self) -> None:
        if self._fd is not None:
            os.close(self._fd)
            self._fd = None
