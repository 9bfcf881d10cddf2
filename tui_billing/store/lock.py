"""One process per workspace: an exclusive, non-blocking lock on ``<workspace>.lock``.

The lock file also remembers how long the workspace was when this process last wrote it
(``pid snapshot-id length``): a file found shorter with the same snapshot was truncated,
and acknowledged commands are missing. A compacted or replaced file has another snapshot
id, so it is never mistaken for a truncated one.
"""

import errno
import os
from pathlib import Path

from .journal import NO_FOLLOW, StoreError, open_private, os_message

try:
    import fcntl
except ImportError:  # Windows
    fcntl = None  # type: ignore[assignment]
    import msvcrt

READ_ONLY = (errno.EROFS, errno.EACCES, errno.EPERM)
"""Why a lock file cannot be opened for writing when the workspace can still be read."""


class WorkspaceBusy(StoreError):
    """Another process holds the workspace (a dashboard, a server): it cannot be opened
    here, though a copy of it can be read."""


class WorkspaceLock:
    """Held while a process has the workspace open; the kernel drops it if the process dies."""

    def __init__(self, workspace: Path) -> None:
        self.workspace = workspace
        self.path = workspace.with_name(workspace.name + ".lock")
        self._fd: int | None = None
        self.shared = False
        """Held shared, for reading only: this process may not write here."""
        self.recorded: tuple[int, int] | None = None
        """(snapshot id, length) the last writer recorded, if any."""

    def acquire(self) -> None:
        try:
            fd = open_private(self.path, os.O_RDWR | os.O_CREAT)
        except OSError as error:
            if error.errno not in READ_ONLY:
                raise StoreError(os_message(self.path, error, "create lock file")) from None
            self._acquire_shared()
            return
        try:
            if fcntl is not None:
                fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
            else:
                msvcrt.locking(fd, msvcrt.LK_NBLCK, 1)
        except OSError:
            fields = os.read(fd, 64).decode(errors="replace").split()
            os.close(fd)
            raise WorkspaceBusy(
                f"workspace {self.workspace} is already open in another tui-billing "
                f"process (pid {fields[0] if fields else 'unknown'}); close it first or use another --db"
            ) from None
        stored = os.read(fd, 64).split()
        if len(stored) == 3 and all(field.isdigit() for field in stored[1:]):
            self.recorded = (int(stored[1]), int(stored[2]))
        self._fd = fd
        if self.recorded is None:
            self._write(str(os.getpid()).encode())
        else:
            self.record(*self.recorded)

    def _acquire_shared(self) -> None:
        """Where this process may not write (a read-only file system or directory): share
        the lock with other readers, so a writer elsewhere still keeps them out; without
        a lock file there can be no writer. Writes then fail with the file system's reason."""
        self.shared = True
        try:
            fd = os.open(self.path, os.O_RDONLY | NO_FOLLOW)
        except FileNotFoundError:
            return
        except OSError as error:
            raise StoreError(os_message(self.path, error, "open lock file")) from None
        try:
            if fcntl is not None:
                fcntl.flock(fd, fcntl.LOCK_SH | fcntl.LOCK_NB)
        except OSError:
            os.close(fd)
            raise StoreError(
                f"workspace {self.workspace} is being changed by another tui-billing process; close it first"
            ) from None
        self._fd = fd

    def record(self, snapshot_id: int, length: int) -> None:
        """Remember the workspace's acknowledged length (no fsync: the journal's record is
        already durable, so a lost update can only make the check weaker, never wrong)."""
        self._write(b"%d %d %d" % (os.getpid(), snapshot_id, length))

    def forget(self) -> None:
        """A new file was installed at the workspace's path: the length the last writer
        recorded was the old file's, so it must not be checked against the new one."""
        self.recorded = None
        self._write(str(os.getpid()).encode())

    def _write(self, text: bytes) -> None:
        if self._fd is not None and not self.shared:  # one fixed-size write: never half-updated
            os.pwrite(self._fd, text.ljust(64), 0)

    def release(self) -> None:
        if self._fd is not None:
            os.close(self._fd)
            self._fd = None
