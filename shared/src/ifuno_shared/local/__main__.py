"""`python -m ifuno_shared.local [DIR]`: start the local servers, print their settings,
serve until Ctrl-C."""

from __future__ import annotations

import sys
import tempfile
from pathlib import Path

from ifuno_shared.local.signals import wait_for_stop_signal
from ifuno_shared.local.stack import LocalInfrastructure


def main() -> None:
    base = Path(sys.argv[1]) if len(sys.argv) > 1 else Path(tempfile.mkdtemp(prefix="ifuno-"))
    infrastructure = LocalInfrastructure(base)
    infrastructure.start()
    try:
        for name, value in infrastructure.environment().items():
            print(f"export {name}={value}")
        print(f"# mail captured in {infrastructure.smtp.folder}; Ctrl-C stops", flush=True)
        wait_for_stop_signal()
    finally:
        infrastructure.stop()


if __name__ == "__main__":
    main()
