"""Device names, CUDA scoring precision and the per-device audit batch size."""
from __future__ import annotations

import pytest
import torch

from forensics.audit.local import default_batch_size
from forensics.device import full_precision, resolve_device


def test_resolve_device_names():
    assert resolve_device("cpu") == torch.device("cpu")
    assert resolve_device(torch.device("cpu")) == torch.device("cpu")
    assert resolve_device("auto").type == ("cuda" if torch.cuda.is_available() else "cpu")
    with pytest.raises(ValueError, match="unknown device"):
        resolve_device("tpu")


@pytest.mark.skipif(torch.cuda.is_available(), reason="checks the error on a machine without CUDA")
def test_cuda_without_a_gpu_is_a_clear_error():
    with pytest.raises(ValueError, match="CUDA is not available"):
        resolve_device("cuda")


def test_full_precision_turns_tf32_off_on_cuda_and_restores_it():
    before = torch.backends.cudnn.allow_tf32
    try:
        torch.backends.cudnn.allow_tf32 = True
        with full_precision(torch.device("cuda")):
            assert torch.backends.cudnn.allow_tf32 is False
        assert torch.backends.cudnn.allow_tf32 is True
        with pytest.raises(RuntimeError), full_precision(torch.device("cuda")):
            raise RuntimeError("a failing forward pass")
        assert torch.backends.cudnn.allow_tf32 is True  # restored on errors too
        with full_precision(torch.device("cpu")):  # the CPU never uses TF32: nothing to change
            assert torch.backends.cudnn.allow_tf32 is True
    finally:
        torch.backends.cudnn.allow_tf32 = before


def test_default_audit_batch_size_per_device():
    assert default_batch_size("cpu") == 16
    assert default_batch_size("cuda") == default_batch_size("cuda:1") == 64
    assert default_batch_size("auto") == (64 if torch.cuda.is_available() else 16)


@pytest.mark.skipif(not torch.cuda.is_available(), reason="needs a CUDA GPU")
def test_cuda_scores_and_verdicts_match_the_cpu(photo_files):
    """With PyTorch's default TF32 flags on, both shipped detectors score on CUDA as on the CPU, to one
    step of the 6-decimal grid, with the same verdicts (measured on an H200: reports/gpu_check.md)."""
    from forensics.detector import Detector

    before = torch.backends.cudnn.allow_tf32
    torch.backends.cudnn.allow_tf32 = True
    try:
        for name in ("default", "fast"):
            cpu = list(Detector.load(name, device="cpu").scan_many(photo_files, provenance=False))
            gpu = list(Detector.load(name, device="cuda").scan_many(photo_files, provenance=False))
            assert max(abs(a.score - b.score) for a, b in zip(cpu, gpu)) <= 1.01e-6
            assert [a.label for a in cpu] == [b.label for b in gpu]
        assert torch.backends.cudnn.allow_tf32 is True  # the caller's setting is left as it was
    finally:
        torch.backends.cudnn.allow_tf32 = before
