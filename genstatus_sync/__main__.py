"""``python -m genstatus_sync``: the genstatus command line."""

import sys


def run() -> int:
    """The command, with Ctrl-C during its imports an interruption too (exit 130), and one
    that comes as the command handles another, or cleans up after it, as well."""
    try:
        from .cli import _Signalled, main
    except KeyboardInterrupt:
        sys.stderr.write("\ngenstatus: interrupted\n")
        return 130
    try:
        return main()
    except KeyboardInterrupt:
        sys.stderr.write("\ngenstatus: interrupted\n")
        return 130
    except _Signalled as stop:  # (SIGTERM, SIGHUP: 128 + its number, as main says)
        return 128 + stop.signum


if __name__ == "__main__":
    sys.exit(run())
