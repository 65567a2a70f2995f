"""Is a path on a network filesystem? Read from the mount table, where SQLite's file locks cannot be trusted.

SQLite's WAL mode needs shared memory that every writer maps, so it is unsafe on any network filesystem; even
the rollback journal relies on POSIX locks that many NFS, Lustre or CIFS setups get wrong across nodes.
"""

from __future__ import annotations

import os
from pathlib import Path

MOUNTS_FILE = "/proc/mounts"  # Linux's table of mounted filesystems: device, mount point, type, options
NETWORK_FILESYSTEMS = frozenset(
    {
        "nfs", "nfs4", "lustre", "gpfs", "beegfs", "cifs", "smb3", "smbfs", "ceph", "cephfs", "glusterfs",
        "fuse.glusterfs", "fuse.sshfs", "fuse.cephfs", "fuse.beegfs", "panfs", "afs", "ocfs2", "gfs2",
        "9p", "fuse.juicefs", "wekafs", "quobyte",
    }
)  # fmt: skip


def filesystem_type(path: str | Path, mounts_file: str | Path | None = None) -> str | None:
    """The type of the filesystem that holds, or will hold, `path`, from the mount table;
    None where there is no table to read (not Linux)."""
    table = Path(mounts_file or MOUNTS_FILE)
    try:
        lines = table.read_text(encoding="utf-8", errors="replace").splitlines()
    except OSError:
        return None
    target = os.path.realpath(path)  # symlinks of the part that exists resolved; the rest need not exist yet
    best, best_type = "", None
    for line in lines:
        parts = line.split()
        if len(parts) < 3:
            continue
        mount_point = parts[1].replace("\\040", " ")  # the table escapes spaces
        inside = target == mount_point or target.startswith(mount_point.rstrip("/") + "/")
        if inside and len(mount_point) >= len(best):  # the deepest mount wins (later lines on ties)
            best, best_type = mount_point, parts[2]
    return best_type


def is_network_filesystem(path: str | Path, mounts_file: str | Path | None = None) -> bool:
    kind = filesystem_type(path, mounts_file)
    return kind is not None and kind.lower() in NETWORK_FILESYSTEMS
