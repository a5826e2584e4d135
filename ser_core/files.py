"""Files that appear complete or not at all: the one atomic write of the project.

Run folders, the feature cache, previews, exports and manifests all write through
`write_atomic`, so a crash or a full disk never leaves half a file where a reader
looks: the bytes go to a temporary file beside the target, are flushed to disk, and
the temporary file is renamed over the target (atomic on POSIX).
"""

from __future__ import annotations

import json
import math
import os
import tempfile
from pathlib import Path
from typing import Any

_UMASK = os.umask(0)
os.umask(_UMASK)


def write_atomic(path: str | Path, data: bytes) -> None:
    """Write `data` to `path` through a temporary file beside it and a rename.

    The file gets the permissions a plain open() would give (0666 less the umask),
    not mkstemp's 0600: run folders and caches are for others to read too. On any
    failure the temporary file is removed and an existing `path` is left as it was.
    """
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(dir=path.parent, prefix=f".{path.name}.", suffix=".tmp")
    try:
        with os.fdopen(fd, "wb") as f:
            os.fchmod(f.fileno(), 0o666 & ~_UMASK)
            f.write(data)
            f.flush()
            os.fsync(f.fileno())
        os.replace(tmp, path)
    except BaseException:
        Path(tmp).unlink(missing_ok=True)
        raise


def json_ready(value: Any) -> Any:
    """JSON has no NaN or Infinity: they become null, so every reader can parse the file."""
    if isinstance(value, float) and not math.isfinite(value):
        return None
    if isinstance(value, dict):
        return {str(k): json_ready(v) for k, v in value.items()}
    if isinstance(value, (list, tuple)):
        return [json_ready(v) for v in value]
    return value


def write_json(path: str | Path, obj: Any) -> None:
    """`obj` as indented JSON (non-finite floats as null), written atomically."""
    write_atomic(path, (json.dumps(json_ready(obj), indent=2) + "\n").encode())
