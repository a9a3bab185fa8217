"""PyTorch module -> ONNX file, the one way edgeshrink does it."""

import warnings

OPSET = 17


def export_onnx(model, input_shape, path, input_name="input", output_name="output"):
    """Export with a dynamic batch dimension, as every variant and the demo use."""
    import torch

    model.eval()
    example = torch.zeros(*input_shape)
    with warnings.catch_warnings():
        # The TorchScript exporter is deprecated upstream but is fast and gives a plain
        # graph that onnxruntime's quantizers handle; its warning is not the user's concern.
        warnings.simplefilter("ignore")
        torch.onnx.export(model, example, str(path), input_names=[input_name], output_names=[output_name],
                          opset_version=OPSET, dynamo=False,
                          dynamic_axes={input_name: {0: "batch"}, output_name: {0: "batch"}})
    return path
