"""Device, precision and loader sizing from train params."""

import pytest
import torch

from vidops.config import TrainConfig
from vidops.training.devices import DeviceError, training_device


def test_cpu_defaults_full_precision_and_no_loader_processes():
    hw = training_device(TrainConfig(device="cpu"))
    assert hw.device == torch.device("cpu") and hw.amp_dtype is None and hw.workers == 0
    assert hw.precision == "fp32" and not hw.needs_scaler


def test_cpu_bf16_on_request_fp16_refused():
    assert training_device(TrainConfig(device="cpu", amp="bf16")).amp_dtype == torch.bfloat16
    with pytest.raises(DeviceError, match="fp16 needs CUDA"):
        training_device(TrainConfig(device="cpu", amp="fp16"))


def test_explicit_workers_are_kept():
    assert training_device(TrainConfig(device="cpu", num_workers=3)).workers == 3


@pytest.mark.skipif(torch.cuda.is_available(), reason="checks the message on a machine without CUDA")
def test_cuda_requested_without_one_is_a_clear_error():
    with pytest.raises(DeviceError, match="no CUDA device"):
        training_device(TrainConfig(device="cuda"))


@pytest.mark.skipif(not torch.cuda.is_available(), reason="needs CUDA")
def test_cuda_auto_picks_bf16_or_fp16_with_a_scaler_and_loader_processes():
    hw = training_device(TrainConfig(device="auto"))
    assert hw.device.type == "cuda" and hw.workers >= 1
    assert hw.amp_dtype == (torch.bfloat16 if torch.cuda.is_bf16_supported() else torch.float16)
    assert hw.needs_scaler == (hw.amp_dtype == torch.float16)
