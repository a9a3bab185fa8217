"""One exception family for host and agent, one subclass per failure domain.

Each domain has a stable wire code (sent by the agent in ``error`` frames) and a
documented CLI exit code. Third-party errors are translated into these where they
enter the program, so the CLI only ever has to render an ``EdgeshrinkError``.
"""


class EdgeshrinkError(Exception):
    """Root of every error edgeshrink reports to a user.

    Context travels in declared fields, never in attributes attached later:
    ``run_id`` is the stored run the failure belongs to (a deploy that stored its
    measurements and then found nothing feasible), ``details`` what was learned
    before the failure (a device-check row, for instance).
    """

    code = "internal"
    exit_code = 1

    def __init__(self, message, hint=None, run_id=None, details=None):
        super().__init__(message)
        self.message = message
        self.hint = hint
        self.run_id = run_id
        self.details = dict(details) if details else {}

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


class TransientConnectError(ConnectError):
    """A connection failure worth retrying (timeout, refused, reset): the board may be
    booting. Retry decisions test for this type, never for words in a message."""


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


class StoreError(EdgeshrinkError):
    """The results store cannot be opened, read or written."""

    code = "store"
    exit_code = 10


class UsageError(EdgeshrinkError):
    """The command line asks for something that cannot be done as asked."""

    code = "usage"
    exit_code = 2


class RegressionFound(EdgeshrinkError):
    """`regress` measured a board worse than its own history: the finding, not a failure
    of the tooling (which keeps its own codes, so CI can tell the two apart)."""

    code = "regression"
    exit_code = 11


ALL_ERRORS = (
    EdgeshrinkError, InventoryError, ConnectError, TransferError, ProtocolError,
    RemoteError, ModelError, ConstraintError, StoreError, UsageError, RegressionFound,
)
_BY_CODE = {cls.code: cls for cls in ALL_ERRORS}


def to_dict(error):
    """An error as JSON for ``--json`` output and the wire: code, message, exit code."""
    return {"code": error.code, "message": error.one_line(), "exit_code": error.exit_code}


def error_for_code(code, message):
    """The exception for a wire error code; unknown codes become RemoteError."""
    return _BY_CODE.get(code, RemoteError)(message)


def describe_os_error(exc):
    """An OSError in words a user acts on: a full disk says so."""
    import errno

    if getattr(exc, "errno", None) == errno.ENOSPC:
        return "no space left on the device"
    if getattr(exc, "errno", None) in (errno.EROFS,):
        return "the file system is read-only"
    return exc.strerror or str(exc)


def first_line(exc):
    """A third-party exception's first line (runtimes put a C++ trace after it), or its
    type's name when it says nothing."""
    lines = str(exc).strip().splitlines()
    return lines[0] if lines else type(exc).__name__
