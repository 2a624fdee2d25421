"""python -m lplr <command>: the package's command-line tools.

    preflight   what each condition of a config will do, from Theta_0 alone (lplr.preflight)

python -m lplr <command> --help describes a command.
"""

import sys

COMMANDS = {"preflight": "lplr.preflight"}


def main(argv: list[str] | None = None) -> int:
    argv = sys.argv[1:] if argv is None else argv
    if not argv or argv[0] in ("-h", "--help", "help"):
        print(__doc__.strip())  # asked for (or no command): the usage is the output, so stdout and exit 0
        return 0 if argv else 2
    if argv[0] not in COMMANDS:
        print(f"python -m lplr: unknown command {argv[0]!r}; the commands: {', '.join(COMMANDS)}.\n\n{__doc__.strip()}",
              file=sys.stderr)
        return 2
    import importlib

    return importlib.import_module(COMMANDS[argv[0]]).main(argv[1:])


if __name__ == "__main__":
    sys.exit(main())
