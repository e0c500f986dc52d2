"""Distillation from a frozen teacher detector: a stage that learns something new (re-encoded images) while
its cell outputs on the crops it was not taught anything new about follow the teacher's, so that what the
teacher ranked well stays ranked as it was (learning without forgetting)."""
from __future__ import annotations

from pathlib import Path

import torch
import torch.nn.functional as F


def load_teacher(model_dir: Path, device: torch.device, *, batch_statistics: bool = True) -> torch.nn.Module:
    """The detector saved in `model_dir` (safetensors + JSON config) on `device`, frozen: no gradients,
    and in training mode with its BatchNorm statistics held (momentum 0), so that on each batch it
    normalises with the batch's statistics as the training student does; a student equal to its
    teacher then has no distillation loss and only a change of weights creates one. With
    `batch_statistics=False` it normalises with its saved statistics instead (eval mode), as a student
    whose trunk is frozen does."""
    from forensics.checkpoint import read_config, read_state, require_trained
    from forensics.models import build_from_config

    cfg = read_config(model_dir)
    require_trained(model_dir, cfg)
    teacher = build_from_config(cfg)
    teacher.load_state_dict(read_state(model_dir, cfg))
    teacher.to(device).train(batch_statistics)
    for module in teacher.modules():
        if isinstance(module, torch.nn.modules.batchnorm._BatchNorm):
            module.momentum = 0.0  # running statistics stay as saved
    for p in teacher.parameters():
        p.requires_grad_(False)
    return teacher


def distillation_loss(student_logits: torch.Tensor, teacher_logits: torch.Tensor, keep: torch.Tensor) -> torch.Tensor:
    """Mean KL divergence of the student's per-cell real/fake distribution from the teacher's, over the
    cells of the crops where `keep` (n,) is true; 0 (with a gradient path) when none is kept.
    Both logits are (n, 2, h, w) on the same crops."""
    if student_logits.shape != teacher_logits.shape:
        raise ValueError(f"teacher cell map {tuple(teacher_logits.shape)} does not match the student's "
                         f"{tuple(student_logits.shape)}: distil from a model with the same cut")
    keep = keep.to(device=student_logits.device, dtype=torch.bool)
    if not bool(keep.any()):
        return student_logits.sum() * 0.0
    student = F.log_softmax(student_logits[keep], dim=1)
    teacher = F.log_softmax(teacher_logits[keep].detach(), dim=1)
    per_cell = (teacher.exp() * (teacher - student)).sum(dim=1)
    return per_cell.mean()
