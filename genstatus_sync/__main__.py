"""``python -m genstatus_sync``: the genstatus command line."""

import sys


def run() -> int:
    """The command, with Ctrl-C during its imports an interruption too (exit 130)."""
    try:
        from .cli import main
    except KeyboardInterrupt:
        sys.stderr.write("\ngenstatus: interrupted\n")
        return 130
    return main()


if __name__ == "__main__":
    sys.exit(run())
