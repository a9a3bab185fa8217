"""ONNX Runtime, CPU execution provider, with explicit thread settings."""

from ...shared.errors import ModelError, RemoteError, first_line
from ...shared.tensor_types import ORT_TO_NUMPY
from .probing import probe_distribution


class OnnxRuntimeBackend:
    name = "onnxruntime"
    profile_unavailable = None

    def probe(self):
        """Installed or not, and which version, without importing it: an idle agent
        should not hold a runtime's tens of MiB (providers are recorded per run)."""
        return probe_distribution("onnxruntime", "onnxruntime")

    def preload(self):
        """Import the runtime, so a memory baseline includes its own footprint."""
        import onnxruntime  # noqa: F401

    def load(self, path, threads, io_names=None, profile_prefix=None):
        """``path``: the model's file, or its bytes. ``io_names`` is for runtimes whose
        converter renames tensors; ONNX keeps them.
        With ``profile_prefix`` the session records every node's time to a JSON file
        there (``runner.end_profiling()`` names it)."""
        try:
            import onnxruntime
        except Exception as exc:
            raise RemoteError("onnxruntime is not installed on the device: %s "
                              "(pip install onnxruntime numpy)" % exc)
        options = onnxruntime.SessionOptions()
        # Explicit, recorded thread counts: defaults depend on the board and change results.
        options.intra_op_num_threads = int(threads)
        options.inter_op_num_threads = 1
        options.execution_mode = onnxruntime.ExecutionMode.ORT_SEQUENTIAL
        if profile_prefix:
            options.enable_profiling = True
            options.profile_file_prefix = profile_prefix
        try:
            session = onnxruntime.InferenceSession(path, sess_options=options,
                                                   providers=["CPUExecutionProvider"])
        except Exception as exc:
            raise ModelError("onnxruntime cannot load the model: %s" % first_line(exc))
        return OnnxRuntimeRunner(session, threads)


class OnnxRuntimeRunner:
    def __init__(self, session, threads):
        self.session = session
        self.settings = {"intra_op_num_threads": threads, "inter_op_num_threads": 1,
                         "providers": session.get_providers()}

    def input_specs(self):
        return [{"name": i.name, "shape": list(i.shape), "dtype": ORT_TO_NUMPY.get(i.type, i.type)}
                for i in self.session.get_inputs()]

    def output_names(self):
        return [o.name for o in self.session.get_outputs()]

    def end_profiling(self):
        """The path of the profile a profiling session wrote."""
        return self.session.end_profiling()

    def run(self, feeds):
        try:
            return self.session.run(None, feeds)
        except Exception as exc:
            raise ModelError("inference failed: %s" % first_line(exc))
