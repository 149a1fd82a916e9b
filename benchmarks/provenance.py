"""Where a result under benchmarks/results/ came from: the command that wrote it, the day and the machine.

Numbers from these noisy machines mean little without them (docs/benchmarks.md compares runs only side by side on
one machine), so every benchmark script opens its JSON with them, written the same way.
"""

from __future__ import annotations

import datetime as dt
import os
import platform
import shlex
import sys
from pathlib import Path
from typing import Any


def command() -> str:
    """The command line that is running, from the repository root, quoted so it can be pasted into a shell."""
    return shlex.join(["python", Path(sys.argv[0]).as_posix(), *sys.argv[1:]])


def today() -> str:
    return dt.date.today().isoformat()


def machine(**extra: Any) -> dict[str, Any]:
    """The core count and platform, plus whatever else a script's figures depend on (a torch version...)."""
    return {"cpu_count": os.cpu_count(), "platform": platform.platform(), **extra}
