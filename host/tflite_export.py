"""PyTorch module -> TensorFlow Lite file, the one way edgeshrink does it (litert-torch).

litert-torch converts through torch.export without TensorFlow; it is the ``tflite``
extra because it brings jax and its own converter (about 1.2 GB). The file keeps the
module's NCHW layout at its inputs and outputs (the converter transposes inside), so
the data and the original model's reference outputs apply unchanged. The shape is
fixed at one sample: the board runs one sample at a time, and a dynamic batch breaks
the conversion of common modules (``flatten`` and ``view`` on a symbolic batch).
"""

import contextlib
import os
import sys
import tempfile
import warnings

from ..shared.errors import UsageError

INSTALL_HINT = "pip install 'edgeshrink[tflite]' (litert-torch and ai-edge-quantizer, about 1.2 GB)"


def require_toolchain():
    """The conversion toolchain, or one UsageError saying how to get it."""
    try:
        import ai_edge_quantizer  # noqa: F401
        import litert_torch  # noqa: F401
    except ImportError as exc:
        raise UsageError("making TensorFlow Lite variants needs litert-torch and ai-edge-quantizer (%s)" % exc,
                         INSTALL_HINT) from None


@contextlib.contextmanager
def quiet_native_output():
    """Send file descriptors 1 and 2 to a scratch file for the duration: the converter and
    the quantizer log from C++ and print progress trees that are not the user's concern
    (the failure itself arrives as the exception)."""
    sys.stdout.flush()
    sys.stderr.flush()
    saved = [os.dup(1), os.dup(2)]
    with tempfile.TemporaryFile() as sink, warnings.catch_warnings():
        warnings.simplefilter("ignore")
        os.dup2(sink.fileno(), 1)
        os.dup2(sink.fileno(), 2)
        try:
            yield
        finally:
            sys.stdout.flush()
            sys.stderr.flush()
            os.dup2(saved[0], 1)
            os.dup2(saved[1], 2)
            for descriptor in saved:
                os.close(descriptor)


def export_tflite(model, input_shape, path):
    """Convert ``model`` at ``input_shape`` (one sample) to a float32 .tflite at ``path``."""
    require_toolchain()
    # Read on every convert call: without it litert-torch draws a progress tree.
    os.environ["LITERT_TORCH_SHOW_PROGRESS"] = "n"
    import torch

    model.eval()
    with quiet_native_output(), torch.no_grad():
        import litert_torch   # its import warns about torch internals on stderr

        converted = litert_torch.convert(model, (torch.zeros(*input_shape),))
        converted.export(str(path))
    return path
