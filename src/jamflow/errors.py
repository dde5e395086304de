"""One exception type for problems the user can fix; the CLI prints it as a one-line error."""


class UserError(Exception):
    """Bad input or missing file: message names the argument and what was expected."""


class Terminated(KeyboardInterrupt):
    """SIGTERM/SIGHUP turned into an exception (jamflow.cli), so `finally` blocks and the atomic writers
    remove their temp files; a KeyboardInterrupt subclass so that `except Exception` never swallows it."""

    def __init__(self, signum: int):
        super().__init__(signum)
        self.signum = signum


def require(condition: bool, message: str) -> None:
    if not condition:
        raise UserError(message)
