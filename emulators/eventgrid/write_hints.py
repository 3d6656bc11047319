"""A hint that storage was just written: Linux inotify on Azurite's blob data folder.

Why: Azure pushes BlobCreated as the write commits ("near real-time event delivery",
https://learn.microsoft.com/azure/event-grid/overview); Azurite has neither events nor a change feed, so the
system topic lists containers (:mod:`blob_watcher`), and a new blob waits for the next listing (≈ 25 ms
median at the adaptive cadence). Azurite started with ``--location DIR`` appends every blob's bytes to
extent files in ``DIR/__blobstorage__`` (its ``FSExtentStore``) just before it records the blob in its
metadata, so a write to that folder says "list now". It is only a hint: the listing stays the truth (a
write of the lake's files wakes a listing of the manifests that finds nothing; a hint may come just before
the metadata commit, so the watcher lists once more shortly after when the hint's listing found nothing),
and the polling cadence stays as it was for all a hint does not cover (deletes, empty blobs, Azurite
elsewhere or ``--inMemoryPersistence``: no folder, no hint).

inotify through ctypes on libc (inotify(7)): no package, no thread — the watcher's loop waits on the
descriptor with ``select`` where it waited on a timer, so an idle stack costs no more CPU.
"""

from __future__ import annotations

import ctypes
import ctypes.util
import logging
import os
import sys
from pathlib import Path

log = logging.getLogger("eventgrid.hints")
#: Azurite's blob extent folder inside its ``--location`` (DEFAULT_BLOB_PERSISTENCE_PATH in Azurite)
AZURITE_BLOB_FOLDER = "__blobstorage__"
# <sys/inotify.h>
IN_MODIFY = 0x00000002
IN_CLOSE_WRITE = 0x00000008
IN_MOVED_TO = 0x00000080
IN_CREATE = 0x00000100
IN_NONBLOCK = os.O_NONBLOCK
IN_CLOEXEC = os.O_CLOEXEC
MASK = IN_MODIFY | IN_CLOSE_WRITE | IN_MOVED_TO | IN_CREATE


def _libc() -> ctypes.CDLL | None:
    if not sys.platform.startswith("linux"):
        return None
    try:
        libc = ctypes.CDLL(ctypes.util.find_library("c") or "libc.so.6", use_errno=True)
        libc.inotify_init1.argtypes = [ctypes.c_int]
        libc.inotify_add_watch.argtypes = [ctypes.c_int, ctypes.c_char_p, ctypes.c_uint32]
    except (OSError, AttributeError):
        return None
    return libc


class WriteHints:
    """A descriptor that becomes readable when a file in ``folder`` is written; drained with :meth:`drain`.

    ``fileno()`` is None until the folder exists and is watched (:meth:`ensure` tries again, cheaply)."""

    def __init__(self, folder: Path) -> None:
        self.folder = folder
        self._fd: int | None = None
        self._libc = _libc()

    def ensure(self) -> bool:
        """Watch the folder if it exists now; whether it is watched."""
        if self._fd is not None:
            return True
        if self._libc is None or not self.folder.is_dir():
            return False
        fd = self._libc.inotify_init1(IN_NONBLOCK | IN_CLOEXEC)
        if fd < 0:
            log.warning("inotify_init1 failed: %s", os.strerror(ctypes.get_errno()))
            self._libc = None
            return False
        if self._libc.inotify_add_watch(fd, os.fsencode(self.folder), MASK) < 0:
            log.warning("cannot watch %s: %s", self.folder, os.strerror(ctypes.get_errno()))
            os.close(fd)
            return False
        self._fd = fd
        log.info("write hints from %s", self.folder)
        return True

    def fileno(self) -> int | None:
        return self._fd

    def drain(self) -> bool:
        """Read every pending notification; whether there was any."""
        if self._fd is None:
            return False
        got = False
        while True:
            try:
                chunk = os.read(self._fd, 65536)
            except BlockingIOError:
                return got
            except OSError as exc:  # e.g. the queue overflowed: still a hint
                log.debug("inotify read: %s", exc)
                return True
            if not chunk:
                return got
            got = True

    def close(self) -> None:
        if self._fd is not None:
            os.close(self._fd)
            self._fd = None
