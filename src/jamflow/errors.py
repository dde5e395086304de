"""One exception type for problems the user can fix; the CLI prints it as a one-line error."""


class UserError(Exception):
    """Bad input or missing file: message names the argument and what was expected."""


def require(condition: bool, message: str) -> None:
    if not condition:
        raise UserError(message)
