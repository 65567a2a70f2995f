"""Put this directory first on PYTHONPATH to record every file a Python process writes under a directory.

With WRITE_AUDIT_ROOT (the directory watched) and WRITE_AUDIT_DIR (where to record) set, each process appends
one line per write to `<WRITE_AUDIT_DIR>/<pid>.txt`: the path renamed into place (an atomic write) or opened
for writing. Temporary files of atomic writes (`*.tmp`) are left out: their rename is the write.
"""

import os
import sys

_ROOT = os.environ.get("WRITE_AUDIT_ROOT")
_DIR = os.environ.get("WRITE_AUDIT_DIR")
_busy = False


def _written_path(event, args):
    if event == "os.rename":  # os.rename and os.replace
        return args[1]
    if event == "open" and isinstance(args[0], (str, bytes, os.PathLike)):
        mode = args[1]
        if isinstance(mode, str) and any(flag in mode for flag in "wax+"):
            return args[0]
    return None


def _record(event, args):
    global _busy
    if _busy:
        return
    path = _written_path(event, args)
    if path is None:
        return
    path = os.path.abspath(os.fsdecode(os.fspath(path)))
    if not path.startswith(_ROOT + os.sep) or path.endswith(".tmp"):
        return
    _busy = True
    try:
        with open(os.path.join(_DIR, f"{os.getpid()}.txt"), "a", encoding="utf-8") as log:
            log.write(os.path.relpath(path, _ROOT) + "\n")
    finally:
        _busy = False


if _ROOT and _DIR:
    _ROOT = os.path.abspath(_ROOT)
    sys.addaudithook(_record)
