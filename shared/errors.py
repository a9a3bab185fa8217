"""One exception family for host and agent, one subclass per failure domain.

Each domain has a stable wire code (sent by the agent in ``error`` frames) and a
documented CLI exit code. Third-party errors are translated into these where they
enter the program, so the CLI only ever has to render an ``EdgeshrinkError``.
"""


class EdgeshrinkError(Exception):
    """Root of every error edgeshrink reports to a user."""

    code = "internal"
    exit_code = 1

    def __init__(self, message, hint=None):
        super().__init__(message)
        self.message = message
        self.hint = hint

    def one_line(self):
        return self.message if not self.hint else "%s (%s)" % (self.message, self.hint)


class InventoryError(EdgeshrinkError):
    """devices.toml is missing, malformed, or names no such device."""

    code = "inventory"
    exit_code = 3


class ConnectError(EdgeshrinkError):
    """The device could not be reached or the agent could not be started."""

    code = "connect"
    exit_code = 4


class TransferError(EdgeshrinkError):
    """A file did not arrive intact on the device."""

    code = "transfer"
    exit_code = 5


class ProtocolError(EdgeshrinkError):
    """The two sides disagree about the wire protocol."""

    code = "protocol"
    exit_code = 6


class RemoteError(EdgeshrinkError):
    """The agent failed while doing what it was asked."""

    code = "remote"
    exit_code = 7


class ModelError(EdgeshrinkError):
    """A model file is missing, corrupt, or cannot be loaded or compressed."""

    code = "model"
    exit_code = 8


class ConstraintError(EdgeshrinkError):
    """No variant meets the device's constraints."""

    code = "constraint"
    exit_code = 9


class UsageError(EdgeshrinkError):
    """The command line asks for something that cannot be done as asked."""

    code = "usage"
    exit_code = 2


ALL_ERRORS = (
    EdgeshrinkError, InventoryError, ConnectError, TransferError, ProtocolError,
    RemoteError, ModelError, ConstraintError, UsageError,
)
_BY_CODE = {cls.code: cls for cls in ALL_ERRORS}


def error_for_code(code, message):
    """The exception for a wire error code; unknown codes become RemoteError."""
    return _BY_CODE.get(code, RemoteError)(message)
