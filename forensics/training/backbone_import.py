"""Start a detector from a backbone's pretrained weights: copy them into a detector folder that
`forensics train --init-from` reads.

The file must be safetensors (never a pickle) holding a timm ResNet's tensors under timm's names
(`conv1.weight`, `layer1.0.bn1.running_mean`, ...), as timm's and torchvision's ResNet exports name them.
Every tensor of the detector's trunk must be found there with its shape; the 1x1 head (and a neck, if the
architecture has one) keep their fresh initialisation, so the folder is a starting point, not a detector
to scan with (its config says `start_point`, and `Detector.load` refuses it).
"""
from __future__ import annotations

from pathlib import Path

import torch

from forensics.checkpoint import PICKLE_SUFFIXES, CheckpointError, read_state, save_checkpoint
from forensics.models import RESNETS, build_model, parse_arch

TRUNK_PREFIX = "trunk.body."


def read_backbone_weights(path: Path) -> dict[str, torch.Tensor]:
    """The tensors of a safetensors file, checked finite (`checkpoint.read_state`); a pickle is refused
    with a one-line error naming the file."""
    path = Path(path)
    if path.suffix.lower() in PICKLE_SUFFIXES:
        raise CheckpointError(f"{path}: a pickle file ({path.suffix}) is never loaded; convert it to safetensors "
                              "where you trust it (safetensors.torch.save_file(torch.load(...), 'weights.safetensors'))")
    return read_state(path.parent, {"weights": path.name})


def import_backbone(weights: Path, arch: str, out: Path, input_filter: str = "none") -> tuple[int, int]:
    """Write a detector folder for `arch` at `out` whose trunk holds `weights`' tensors (matched by timm
    name and shape). Returns (tensors copied, tensors in the detector). Raises CheckpointError when a
    trunk tensor is missing or has another shape (the weights are of another backbone) and ValueError
    for an architecture whose trunk is not a timm ResNet."""
    spec = parse_arch(arch)
    if spec.backbone not in RESNETS or not spec.is_patch:
        raise ValueError(f"import needs a ResNet patch architecture ({', '.join(RESNETS)} cuts); got {arch}")
    source = read_backbone_weights(weights)
    model = build_model(arch, input_filter)
    own = model.state_dict()
    timm_name = {k: k[len(TRUNK_PREFIX):] for k in own
                 if k.startswith(TRUNK_PREFIX) and not k.endswith("num_batches_tracked")}
    missing = [n for n in timm_name.values() if n not in source]
    wrong = [n for k, n in timm_name.items() if n in source and source[n].shape != own[k].shape]
    if missing or wrong:
        raise CheckpointError(f"{weights}: not {spec.backbone} weights under timm's names ({len(missing)} of the "
                              f"{len(timm_name)} trunk tensors missing, {len(wrong)} of another shape; "
                              f"e.g. {(missing or wrong)[0]!r})")
    copied = {k: source[n].to(own[k].dtype) for k, n in timm_name.items()}
    model.load_state_dict(copied, strict=False)
    save_checkpoint(Path(out), model.state_dict(),
                    {"arch": arch, "input_filter": input_filter, "model_id": f"{Path(weights).stem}-{arch}-start",
                     "imported_from": Path(weights).name, "start_point": True})
    return len(copied), len(own)
