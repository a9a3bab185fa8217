"""Small PyTorch models exported the way real packages ship theirs (issue 8's classes):
a streaming voice-activity model with recurrent state, a CTC text recogniser, a text
detector's probability map, and a detector with two heads. Weights are seeded and
scaled so each model's decisions have clear margins, as trained models' do; nothing
is downloaded. Each builder writes ``path`` and returns it; ``*_data`` builds the
matching data file in the format the README documents.
"""

import warnings

import numpy as np

OPSET = 17


def _export(model, args, path, input_names, output_names, dynamic_axes):
    import torch

    model.eval()
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")   # the TorchScript exporter's deprecation notice
        torch.onnx.export(model, args, str(path), input_names=input_names, output_names=output_names,
                          opset_version=OPSET, dynamo=False, dynamic_axes=dynamic_axes)
    return path


def streaming_vad(path, hidden=32, frame=64):
    """Silero-VAD-like: ``audio`` (batch, frame), ``state`` (1, batch, hidden) batched on
    axis 1, and a scalar ``sr``; outputs ``prob`` (batch, 1) and ``state_out``."""
    import torch
    from torch import nn

    class Vad(nn.Module):
        def __init__(self):
            super().__init__()
            torch.manual_seed(0)
            self.encoder = nn.Sequential(nn.Linear(frame, 64), nn.ReLU(), nn.Linear(64, hidden))
            self.cell = nn.GRU(hidden, hidden)
            self.head = nn.Linear(hidden, 1)

        def forward(self, audio, state, sr):
            scaled = audio * (sr.float() / 16000.0)
            features = self.encoder(scaled).unsqueeze(0)            # (1, batch, hidden)
            out, new_state = self.cell(features, state)
            return torch.sigmoid(4.0 * self.head(out[0])), new_state

    args = (torch.zeros(1, frame), torch.zeros(1, 1, hidden), torch.tensor(16000, dtype=torch.int64))
    return _export(Vad(), args, path, ["audio", "state", "sr"], ["prob", "state_out"],
                   {"audio": {0: "batch"}, "state": {1: "batch"}, "prob": {0: "batch"},
                    "state_out": {1: "batch"}})


def streaming_vad_data(path, samples=48, hidden=32, frame=64, seed=3):
    """Audio frames per sample, a state per sample on axis 1, and the rate given once."""
    rng = np.random.RandomState(seed)
    np.savez(path, audio=rng.standard_normal((samples, frame)).astype(np.float32),
             state=(rng.standard_normal((1, samples, hidden)) * 0.5).astype(np.float32),
             axis__state=np.array(1), once__sr=np.array(16000, dtype=np.int64))
    return path


def ctc_recognizer(path, width=32, classes=12):
    """CNN + GRU text recogniser: ``image`` (batch, 1, 16, width) -> ``logits`` (T, batch,
    classes), log-softmax over classes, as CTC recognisers export (time first)."""
    import torch
    from torch import nn

    class Recognizer(nn.Module):
        def __init__(self):
            super().__init__()
            torch.manual_seed(1)
            self.conv = nn.Sequential(nn.Conv2d(1, 16, 3, padding=1), nn.ReLU(), nn.MaxPool2d((2, 2)),
                                      nn.Conv2d(16, 32, 3, padding=1), nn.ReLU(), nn.MaxPool2d((8, 1)))
            self.rnn = nn.GRU(32, 32, bidirectional=True)
            self.fc = nn.Linear(64, classes)
            with torch.no_grad():
                self.fc.weight.mul_(40.0)   # decisive per-position classes, as a trained recogniser has

        def forward(self, image):
            features = self.conv(image).squeeze(2).permute(2, 0, 1)   # (T, batch, 32)
            out, _ = self.rnn(features)
            return torch.log_softmax(self.fc(out), dim=2)

    return _export(Recognizer(), (torch.zeros(1, 1, 16, width),), path, ["image"], ["logits"],
                   {"image": {0: "batch"}, "logits": {1: "batch"}})


def text_detector(path, size=32):
    """DBNet-like: ``image`` (batch, 3, size, size) -> ``prob_map`` (batch, 1, size, size) in [0, 1]."""
    import torch
    from torch import nn

    class Detector(nn.Module):
        def __init__(self):
            super().__init__()
            torch.manual_seed(2)
            self.body = nn.Sequential(nn.Conv2d(3, 16, 3, padding=1), nn.ReLU(),
                                      nn.Conv2d(16, 16, 3, padding=1), nn.ReLU(), nn.Conv2d(16, 1, 1))
            with torch.no_grad():
                # Centre the map so about a third of it is text, as on a page.
                logits = self.body(torch.randn(8, 3, size, size, generator=torch.Generator().manual_seed(0)))
                self.body[-1].bias.sub_(torch.quantile(logits.flatten(), 0.66))

        def forward(self, image):
            return torch.sigmoid(8.0 * self.body(image))

    return _export(Detector(), (torch.zeros(1, 3, size, size),), path, ["image"], ["prob_map"],
                   {"image": {0: "batch"}, "prob_map": {0: "batch"}})


def two_head_detector(path, classes=6):
    """One image in, two outputs: ``scores`` (batch, classes) and ``boxes`` (batch, 4)."""
    import torch
    from torch import nn

    class TwoHeads(nn.Module):
        def __init__(self):
            super().__init__()
            torch.manual_seed(3)
            self.body = nn.Sequential(nn.Conv2d(3, 16, 3, padding=1), nn.ReLU(), nn.AdaptiveAvgPool2d(1),
                                      nn.Flatten())
            self.scores = nn.Linear(16, classes)
            self.boxes = nn.Linear(16, 4)
            with torch.no_grad():
                self.scores.weight.mul_(6.0)

        def forward(self, image):
            features = self.body(image)
            return self.scores(features), torch.sigmoid(self.boxes(features))

    return _export(TwoHeads(), (torch.zeros(1, 3, 16, 16),), path, ["image"], ["scores", "boxes"],
                   {"image": {0: "batch"}, "scores": {0: "batch"}, "boxes": {0: "batch"}})


def images_data(path, shape, samples=48, seed=4):
    np.savez(path, image=np.random.RandomState(seed).standard_normal((samples,) + tuple(shape)).astype(np.float32))
    return path
