"""Distillation from a frozen teacher: the loss and the safe teacher loading."""
from __future__ import annotations

import pytest
import torch

from forensics.checkpoint import save_checkpoint
from forensics.training.distill import distillation_loss, load_teacher
from forensics.models import build_model


def test_loss_is_zero_when_the_student_agrees_and_grows_with_disagreement():
    torch.manual_seed(0)
    teacher = torch.randn(4, 2, 3, 3)
    keep = torch.tensor([True, True, False, True])
    assert distillation_loss(teacher.clone(), teacher, keep).item() == pytest.approx(0.0, abs=1e-7)
    near = distillation_loss(teacher + 0.1 * torch.randn_like(teacher), teacher, keep).item()
    far = distillation_loss(teacher.flip(1), teacher, keep).item()
    assert 0 < near < far


def test_only_kept_crops_count_and_only_the_student_gets_a_gradient():
    teacher = torch.zeros(2, 2, 2, 2)
    student = torch.zeros(2, 2, 2, 2)
    student[1, 1] = 5.0  # only crop 1 disagrees
    student.requires_grad_(True)
    assert distillation_loss(student, teacher, torch.tensor([True, False])).item() == pytest.approx(0.0, abs=1e-7)
    loss = distillation_loss(student, teacher, torch.tensor([False, True]))
    loss.backward()
    assert loss.item() > 1.0
    assert student.grad[0].abs().sum() == 0 and student.grad[1].abs().sum() > 0
    none_kept = distillation_loss(student, teacher, torch.tensor([False, False]))
    assert none_kept.item() == 0.0 and none_kept.requires_grad


def test_mismatched_cell_maps_are_refused():
    with pytest.raises(ValueError, match="same cut"):
        distillation_loss(torch.zeros(1, 2, 4, 4), torch.zeros(1, 2, 2, 2), torch.tensor([True]))


def test_teacher_is_loaded_from_safetensors_frozen_and_computes_as_a_training_student(tmp_path):
    """The teacher normalises with batch statistics (as the student in training does) and keeps its saved
    running statistics, so a student with the teacher's weights has no distillation loss."""
    model = build_model("resnet18_layer1", "residual")
    save_checkpoint(tmp_path / "teacher", model.state_dict(),
                    {"arch": "resnet18_layer1", "input_filter": "residual", "threshold": 0.5})
    teacher = load_teacher(tmp_path / "teacher", torch.device("cpu"))
    assert not any(p.requires_grad for p in teacher.parameters())
    saved = {k: v.clone() for k, v in teacher.state_dict().items() if "running" in k}
    x = torch.rand(4, 3, 32, 32)
    model.train()
    with torch.no_grad():
        out = teacher(x)
        torch.testing.assert_close(out, model(x))
    for k, v in teacher.state_dict().items():
        if "running" in k:
            torch.testing.assert_close(v, saved[k])
    assert distillation_loss(model(x), out, torch.ones(4, dtype=torch.bool)).item() == pytest.approx(0.0, abs=1e-6)


def test_teacher_can_normalise_with_its_saved_statistics(tmp_path):
    """For a student whose trunk is frozen (eval-mode BatchNorm), the teacher computes as that model in eval mode."""
    model = build_model("resnet18_layer1", "residual")
    for m in model.modules():
        if isinstance(m, torch.nn.BatchNorm2d):
            m.running_mean.uniform_(-0.1, 0.1)
            m.running_var.uniform_(0.5, 2.0)
    save_checkpoint(tmp_path / "teacher", model.state_dict(),
                    {"arch": "resnet18_layer1", "input_filter": "residual", "threshold": 0.5})
    teacher = load_teacher(tmp_path / "teacher", torch.device("cpu"), batch_statistics=False)
    assert not teacher.training
    x = torch.rand(4, 3, 32, 32)
    with torch.no_grad():
        torch.testing.assert_close(teacher(x), model.eval()(x))
