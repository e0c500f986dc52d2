"""Train a patch classifier: every output cell is trained with its image's label.

`train(TrainConfig(...))` writes a run directory that `Detector.load(run_dir)` accepts:
config.json, model.safetensors (best on validation), metrics.json, curves.png and a resumable
state/ folder. Rerunning with the same `out` resumes from the last finished epoch.
"""
from __future__ import annotations

import json
import math
import os
import sys
import time
from dataclasses import asdict, dataclass, field, fields
from pathlib import Path
from typing import Any, Optional

import numpy as np
import torch
import torch.nn.functional as F
from torch.utils.data import DataLoader

from forensics.aggregate import ScoreRule
from forensics.checkpoint import atomic_write_json, save_checkpoint, save_state
from forensics.training.data import (FAKE, REAL, Augmenter, BalancedStream, ValidationSet, default_workers,
                            make_sources)
from forensics.device import full_precision, resolve_device
from forensics.training.distill import distillation_loss, load_teacher
from forensics.training.image_loss import image_loss, require_differentiable
from forensics.metrics import binary_metrics
from forensics.models import build_model
from forensics.preprocess import Preprocessing, normalize
from forensics.progress import progress_bar
from forensics.fileio import replaced_atomically


@dataclass
class TrainConfig:
    """Everything a training run needs; saved into the run's config.json."""

    real: list[str]
    fake: list[str]
    out: str
    arch: str = "resnet18_layer1"
    input_filter: str = "none"
    val_real: Optional[list[str]] = None
    val_fake: Optional[list[str]] = None
    val_fraction: float = 0.1
    epochs: int = 10
    steps_per_epoch: int = 100
    batch_size: int = 32
    size: int = 128
    val_size: int = 256
    val_per_source: int = 200
    augment: str = "flip"
    lr: float = 1e-3
    weight_decay: float = 0.0
    patience: int = 3
    seed: int = 0
    device: str = "auto"
    workers: int = field(default_factory=default_workers)
    progress: bool = True
    model_id: Optional[str] = None
    init_from: Optional[str] = None
    selection: str = "pooled_ap"
    lr_schedule: str = "constant"
    source_weights: Optional[dict[str, float]] = None
    small_fraction: float = 0.0  # share of batches cropped at 32-56 px (thumbnails as scanned)
    reencode_fraction: float = 0.0  # share of images re-saved as JPEG 60-95 and downscaled 0.4-0.8x whole
    saturation_fraction: float = 0.0  # share of images whose colour saturation is scaled 0.5-1.6x
    grey_fraction: float = 0.0  # share of images turned grey (three equal channels) first
    jpeg_fraction: float = 0.0  # share of images re-saved whole as JPEG 70-100 first (no resize)
    chroma_match_fraction: float = 0.0  # share of images whose mean chroma is set to a level drawn alike for both classes
    hard_real_share: float = 0.0  # share of real draws taken from the hardest real training files
    hard_real_top: float = 0.05  # which files are hardest: this top share of reals by image score
    hard_real_model: Optional[str] = None  # the model that ranks them (default: init_from)
    hard_fake_share: float = 0.0  # share of fake draws taken from the hardest fake training files
    hard_fake_top: float = 0.05  # which fakes are hardest: this bottom share of fakes by image score
    hard_fake_model: Optional[str] = None  # the model that ranks them (default: init_from)
    hard_per_source: bool = False  # take the hard share within each training source, not over the class
    aggregation: Optional[str] = None  # image-score rule, e.g. topk:0.5 (default: init_from's, else mean_prob)
    image_loss_weight: float = 0.0  # weight of the loss on each crop's aggregated P(fake), added to the cell loss
    distill_from: Optional[str] = None  # frozen teacher model whose cell outputs the crops not re-encoded follow
    distill_weight: float = 0.0  # weight of that distillation loss (KL per cell), added to the cell loss
    head_hidden: int = 0  # width of a per-cell MLP added to the linear head (0: linear head only)
    freeze_trunk: bool = False  # train the head(s) only; the trunk keeps its weights and BatchNorm statistics

    @classmethod
    def from_file(cls, path: Path, **overrides: Any) -> "TrainConfig":
        """Load a JSON recipe; explicit overrides (not None) win."""
        data = json.loads(Path(path).read_text())
        known = {f.name for f in fields(cls)}
        unknown = set(data) - known
        if unknown:
            raise ValueError(f"{path}: unknown training options {sorted(unknown)}")
        data.update({k: v for k, v in overrides.items() if v is not None})
        return cls(**data)


SELECTIONS = ("pooled_ap", "mean_source_ap", "last")
LR_SCHEDULES = ("constant", "cosine")


def learning_rate(base: float, schedule: str, step: int, total_steps: int) -> float:
    """The learning rate at global `step`: constant, or cosine-annealed from `base` to 0 at `total_steps`.
    A pure function of the step, so a resumed run continues the same curve."""
    if schedule == "constant":
        return base
    if schedule == "cosine":
        return base * 0.5 * (1.0 + math.cos(math.pi * min(step, total_steps) / max(1, total_steps)))
    raise ValueError(f"unknown lr schedule '{schedule}'; choose one of {', '.join(LR_SCHEDULES)}")


def warm_start(model: torch.nn.Module, model_dir: Path) -> tuple[int, int]:
    """Copy every tensor of a saved detector whose name and shape match `model` (e.g. the stem and
    layer1 of a layer1 model into a layer2 model). Returns (copied, total in model)."""
    from forensics.checkpoint import read_config, read_state

    state = read_state(model_dir, read_config(model_dir))
    own = model.state_dict()
    match = {k: v for k, v in state.items() if k in own and own[k].shape == v.shape}
    if not match:
        raise ValueError(f"{model_dir}: no tensor matches the new model by name and shape; nothing to start from")
    model.load_state_dict({k: v.to(own[k].dtype) for k, v in match.items()}, strict=False)
    return len(match), len(own)


def freeze_trunk(model: torch.nn.Module) -> None:
    """Hold a patch model's trunk fixed: no gradients, and BatchNorm in eval mode (set again after every
    `train()`), so only its head(s) learn and the features stay those of the detector it started from."""
    if getattr(model, "trunk", None) is None:
        raise ValueError("freeze_trunk needs a patch model (a full-image classifier has no separate trunk)")
    for p in model.trunk.parameters():
        p.requires_grad_(False)
    model.trunk.eval()


def selection_score(ap_pooled: float, per_source: dict[str, Any], selection: str) -> float:
    """The validation figure that picks the best epoch: pooled AP, or the mean of per-fake-source APs
    (which keeps small, hard sources from being outvoted by large easy ones). 'last' keeps the last
    epoch whatever its score (no selection on validation files); its score is the mean per-source AP."""
    if selection == "pooled_ap":
        return ap_pooled
    aps = [v["ap"] for k, v in per_source.items() if k.startswith("fake:") and not math.isnan(v.get("ap", math.nan))]
    return float(np.mean(aps)) if aps else ap_pooled


def _dist_info() -> tuple[int, int]:
    world = int(os.environ.get("WORLD_SIZE", "1"))
    rank = int(os.environ.get("RANK", "0"))
    return rank, world


def _optimizer_state(opt: torch.optim.Optimizer) -> tuple[dict[str, torch.Tensor], dict[str, Any]]:
    tensors, meta = {}, {}
    for i, st in opt.state_dict()["state"].items():
        for k, v in st.items():
            if torch.is_tensor(v) and v.dim() > 0:
                tensors[f"opt.{i}.{k}"] = v
            else:
                meta[f"{i}.{k}"] = float(v)
    return tensors, meta


def _load_optimizer_state(opt: torch.optim.Optimizer, tensors: dict[str, torch.Tensor], meta: dict[str, Any]) -> None:
    sd = opt.state_dict()
    state: dict[int, dict[str, Any]] = {}
    for key, v in tensors.items():
        _, i, k = key.split(".", 2)
        state.setdefault(int(i), {})[k] = v
    for key, v in meta.items():
        i, k = key.split(".", 1)
        state.setdefault(int(i), {})[k] = torch.tensor(v)
    sd["state"] = state
    opt.load_state_dict(sd)


def _plot_curves(history: list[dict[str, Any]], path: Path) -> None:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    ep = [h["epoch"] for h in history]
    fig, ax = plt.subplots(1, 2, figsize=(9, 3.2))
    ax[0].plot(ep, [h["train_loss"] for h in history], "o-", label="train")
    ax[0].plot(ep, [h["val_loss"] for h in history], "o-", label="validation")
    ax[0].set(xlabel="epoch", ylabel="cell cross-entropy", title="loss")
    ax[0].legend()
    ax[1].plot(ep, [h["val_ap"] for h in history], "o-", color="C2")
    ax[1].set(xlabel="epoch", ylabel="AP (fake = positive)", title="validation AP", ylim=(0.0, 1.01))
    fig.tight_layout()
    with replaced_atomically(path) as tmp:
        fig.savefig(tmp, dpi=110, format="png")
    plt.close(fig)


@torch.inference_mode()
def evaluate_loader(model: torch.nn.Module, loader: DataLoader, pre: Preprocessing, device: torch.device,
                    score_rule: Optional[ScoreRule] = None) -> dict[str, Any]:
    """Image scores (under `score_rule`, default the mean of cell P(fake)), labels and the cell loss on a
    validation loader."""
    score_rule = score_rule or ScoreRule()
    model.eval()
    scores, labels, losses, oks = [], [], [], []
    for x, y, ok in loader:
        with full_precision(device):  # validation scores as a Detector computes them (no TF32)
            logits = model(normalize(x.to(device), pre))
        target = y.to(device).view(-1, 1, 1).expand(-1, logits.shape[2], logits.shape[3])
        keep = ok.bool()
        losses.append(F.cross_entropy(logits, target, reduction="none").mean(dim=(1, 2)).cpu()[keep])
        d = (logits[:, 1] - logits[:, 0]).float().cpu().numpy()
        scores += [score_rule(m) for m in d]
        labels += y.tolist()
        oks += keep.tolist()
    # unreadable validation files (ok = 0) are blank placeholders: leave them out of every metric
    keep_np = np.array(oks, dtype=bool)
    loss = torch.cat(losses) if losses else torch.empty(0)
    return {"scores": np.array(scores)[keep_np] if oks else np.array([]),
            "labels": np.array(labels)[keep_np] if oks else np.array([]), "ok": keep_np,
            "loss": float(loss.mean()) if loss.numel() else math.nan}


def validation_figures(model: torch.nn.Module, loader: DataLoader, names: list[str], pre: Preprocessing,
                       device: torch.device, score_rule: ScoreRule, selection: str) -> dict[str, Any]:
    """A stage's validation record: loss, pooled AP, accuracy, per-source figures and the `selection` score
    of the images in `loader` (`names`: each image's source, in loader order)."""
    ev = evaluate_loader(model, loader, pre, device, score_rule)
    m = binary_metrics(ev["labels"], ev["scores"])
    per_source = _per_source(ev["scores"], ev["labels"], [n for n, ok in zip(names, ev["ok"]) if ok])
    return {"val_loss": ev["loss"], "val_ap": m["ap"], "val_acc": m["accuracy"],
            "val_selection": selection_score(m["ap"], per_source, selection), "per_source": per_source}


def _per_source(scores: np.ndarray, labels: np.ndarray, names: list[str]) -> dict[str, Any]:
    out: dict[str, Any] = {}
    real = labels == REAL
    for n in sorted(set(names)):
        m = np.array([x == n for x in names])
        if n.startswith("fake:"):
            sel = m | real
            out[n] = binary_metrics(labels[sel], scores[sel])
        else:
            out[n] = {"n": int(m.sum()), "fpr_at_0.5": float((scores[m] >= 0.5).mean())}
    return out


def stage_score_rule(cfg: TrainConfig) -> ScoreRule:
    """The image-score rule a stage validates with and records: `aggregation` when given, else the
    warm-start model's (a stage continues its model, rule included), else the mean of cell P(fake)."""
    if cfg.aggregation:
        return ScoreRule.parse(cfg.aggregation)
    if cfg.init_from:
        from forensics.checkpoint import read_config

        return ScoreRule.from_config(read_config(Path(cfg.init_from)))
    return ScoreRule()


def _hard_files(cfg: TrainConfig, label: int, train_sources: list, out: Path, device: torch.device, rank: int,
                world: int) -> list[Path]:
    """The training files of one class drawn for its hard share: reals the ranking model scores most fake
    (top `hard_real_top`), or fakes it scores most real (bottom `hard_fake_top`). The ranking model is
    `hard_real_model` / `hard_fake_model`, else the warm-start model; rank 0 mines once per run."""
    from forensics.training.mining import mine_hard_files

    kind = "real" if label == REAL else "fake"
    share, top, model = (cfg.hard_real_share, cfg.hard_real_top, cfg.hard_real_model) if label == REAL else \
        (cfg.hard_fake_share, cfg.hard_fake_top, cfg.hard_fake_model)
    if not 0.0 <= share <= 1.0:
        raise ValueError(f"hard_{kind}_share must be within 0-1, got {share}")
    ranker = model or cfg.init_from
    if not ranker:
        raise ValueError(f"hard_{kind}_share needs hard_{kind}_model (or init_from): the model whose scores rank "
                         f"the {kind}s")
    files = [f for s in train_sources if s.label == label for f in s.files]
    groups = [s.files for s in train_sources if s.label == label] if cfg.hard_per_source else None
    if world > 1 and rank != 0:
        import torch.distributed as dist

        dist.barrier()  # rank 0 scores and caches; the others read its cache
    hard = mine_hard_files(Path(ranker), files, out, top=top, fake=label == FAKE, device=str(device),
                           progress=cfg.progress and rank == 0, groups=groups)
    if world > 1 and rank == 0:
        import torch.distributed as dist

        dist.barrier()
    return hard


def train(cfg: TrainConfig) -> Path:
    """Train (or resume) and return the run directory."""
    rank, world = _dist_info()
    if world > 1:
        import torch.distributed as dist

        backend = "nccl" if torch.cuda.is_available() and cfg.device != "cpu" else "gloo"
        dist.init_process_group(backend=backend)
    device = resolve_device(cfg.device)
    if device.type == "cuda" and world > 1:
        device = torch.device("cuda", int(os.environ.get("LOCAL_RANK", "0")))
    out = Path(cfg.out)
    state_dir = out / "state"
    if rank == 0:
        state_dir.mkdir(parents=True, exist_ok=True)
    torch.manual_seed(cfg.seed)
    pre = Preprocessing()
    split = "train" if cfg.val_real is None and cfg.val_fake is None else None
    train_sources = make_sources([Path(d) for d in cfg.real], REAL, split=split, val_fraction=cfg.val_fraction) + \
        make_sources([Path(d) for d in cfg.fake], FAKE, split=split, val_fraction=cfg.val_fraction)
    if split:
        val_sources = make_sources([Path(d) for d in cfg.real], REAL, split="val", val_fraction=cfg.val_fraction) + \
            make_sources([Path(d) for d in cfg.fake], FAKE, split="val", val_fraction=cfg.val_fraction)
    else:
        val_sources = make_sources([Path(d) for d in cfg.val_real or []], REAL, split=None, val_fraction=0) + \
            make_sources([Path(d) for d in cfg.val_fake or []], FAKE, split=None, val_fraction=0)
    if {s.label for s in val_sources} != {REAL, FAKE}:
        raise ValueError("validation needs both real and fake images: add files or --val-real/--val-fake")

    if cfg.selection not in SELECTIONS:
        raise ValueError(f"unknown selection '{cfg.selection}'; choose one of {', '.join(SELECTIONS)}")
    if cfg.lr_schedule not in LR_SCHEDULES:
        raise ValueError(f"unknown lr schedule '{cfg.lr_schedule}'; choose one of {', '.join(LR_SCHEDULES)}")
    score_rule = stage_score_rule(cfg)
    if cfg.image_loss_weight < 0:
        raise ValueError(f"image_loss_weight must be >= 0, got {cfg.image_loss_weight}")
    if cfg.image_loss_weight:
        require_differentiable(score_rule)  # before any work, not at the first step
    if cfg.distill_weight < 0:
        raise ValueError(f"distill_weight must be >= 0, got {cfg.distill_weight}")
    if bool(cfg.distill_weight) != bool(cfg.distill_from):
        raise ValueError("distillation needs both distill_from (the teacher model) and distill_weight > 0")
    if cfg.freeze_trunk and not (cfg.init_from or (state_dir / "last.safetensors").is_file()):
        raise ValueError("freeze_trunk needs init_from: a frozen trunk must start from a trained detector's")
    # a frozen trunk normalises with its saved statistics, so the teacher does too (student == teacher at start)
    teacher = load_teacher(Path(cfg.distill_from), device, batch_statistics=not cfg.freeze_trunk) \
        if cfg.distill_from else None
    model = build_model(cfg.arch, cfg.input_filter, cfg.head_hidden).to(device)
    if cfg.freeze_trunk:
        freeze_trunk(model)
    opt = torch.optim.Adam([p for p in model.parameters() if p.requires_grad], lr=cfg.lr,
                           weight_decay=cfg.weight_decay)
    history: list[dict[str, Any]] = []
    best: dict[str, Any] = {"val_ap": -1.0, "val_loss": math.inf, "epoch": -1}
    start_epoch = 0
    source_names = sorted(f"{s.label}:{s.name}" for s in train_sources) + \
        sorted(f"val {s.label}:{s.name}" for s in val_sources)
    last_meta = state_dir / "last.json"
    if (state_dir / "last.safetensors").is_file():  # resume
        from safetensors import safe_open
        from safetensors.torch import load_file

        with safe_open(str(state_dir / "last.safetensors"), "pt") as fh:
            embedded = (fh.metadata() or {}).get("resume")
        meta = json.loads(embedded) if embedded else json.loads(last_meta.read_text())
        if meta.get("arch") != cfg.arch:
            raise ValueError(f"{out}: existing run is {meta.get('arch')}, not {cfg.arch}; use a new --out")
        tensors = load_file(str(state_dir / "last.safetensors"))
        model.load_state_dict({k[6:]: v for k, v in tensors.items() if k.startswith("model.")})
        _load_optimizer_state(opt, {k: v.to(device) for k, v in tensors.items() if k.startswith("opt.")},
                              meta["optimizer"])
        history, best, start_epoch = meta["history"], meta["best"], meta["epoch"] + 1
        if meta.get("sources", source_names) != source_names:
            # The data changed (e.g. a new generator's samples were added): old validation APs are not
            # comparable with new ones, so model selection starts again from the resumed weights.
            best = {"val_ap": -1.0, "val_loss": math.inf, "epoch": start_epoch - 1}
            if rank == 0:
                print(f"{out}: training/validation sources changed; model selection restarts", file=sys.stderr)
        if rank == 0:
            print(f"resuming {out} from epoch {start_epoch}", file=sys.stderr)
    elif cfg.init_from:
        copied, total = warm_start(model, Path(cfg.init_from))
        if rank == 0:
            print(f"{out}: warm start from {cfg.init_from}: {copied} of {total} tensors copied", file=sys.stderr)
    net = model
    if world > 1:
        from torch.nn.parallel import DistributedDataParallel

        net = DistributedDataParallel(model, device_ids=[device.index] if device.type == "cuda" else None)

    hard = _hard_files(cfg, REAL, train_sources, out, device, rank, world) if cfg.hard_real_share else []
    hard_fakes = _hard_files(cfg, FAKE, train_sources, out, device, rank, world) if cfg.hard_fake_share else []
    per_rank_batch = max(2, cfg.batch_size // world)
    augmenter = Augmenter(cfg.augment, cfg.size, reencode=cfg.reencode_fraction,
                          saturation=cfg.saturation_fraction, grey=cfg.grey_fraction,
                          jpeg=cfg.jpeg_fraction, chroma_match=cfg.chroma_match_fraction)
    stream = BalancedStream(train_sources, augmenter, cfg.seed, rank=rank,
                            source_weights=cfg.source_weights, batch_size=per_rank_batch,
                            small_fraction=cfg.small_fraction, hard_reals=hard, hard_share=cfg.hard_real_share,
                            hard_fakes=hard_fakes, hard_fake_share=cfg.hard_fake_share,
                            flag_reencoded=teacher is not None)
    stream.start_step = start_epoch * cfg.steps_per_epoch
    loader = DataLoader(stream, batch_size=per_rank_batch, num_workers=cfg.workers,
                        persistent_workers=cfg.workers > 0)
    val_set = ValidationSet(val_sources, cfg.val_size, per_source=cfg.val_per_source)
    val_loader = DataLoader(val_set, batch_size=32, num_workers=cfg.workers)
    val_names = [n for _, _, n in val_set.items]
    run_config = {"arch": cfg.arch, "input_filter": cfg.input_filter,
                  **({"head_hidden": cfg.head_hidden} if cfg.head_hidden else {}), "preprocessing": pre.to_dict(),
                  **score_rule.to_config(), "threshold": 0.5, "temperature": 1.0,
                  "model_id": cfg.model_id or out.name,
                  "training": {**asdict(cfg), "sources": {s.name: len(s.files) for s in train_sources},
                               "val_sources": {s.name: len(s.files) for s in val_sources},
                               **({"hard_reals": list(dict.fromkeys(map(str, hard)))} if hard else {}),
                               **({"hard_fakes": list(dict.fromkeys(map(str, hard_fakes)))} if hard_fakes else {})}}
    batches = iter(loader)
    stale = sum(1 for h in history[::-1] if h["epoch"] > best["epoch"])
    for epoch in range(start_epoch, cfg.epochs):
        if stale >= cfg.patience:
            break
        net.train()
        if cfg.freeze_trunk:
            model.trunk.eval()
        t0, losses = time.time(), []
        bar = progress_bar(range(cfg.steps_per_epoch), desc=f"epoch {epoch + 1}/{cfg.epochs}",
                           enabled=cfg.progress and rank == 0)
        for i in bar:
            for group in opt.param_groups:
                group["lr"] = learning_rate(cfg.lr, cfg.lr_schedule, epoch * cfg.steps_per_epoch + i,
                                            cfg.epochs * cfg.steps_per_epoch)
            x, y, *flags = next(batches)
            x, y = normalize(x.to(device), pre), y.to(device)
            logits = net(x)
            target = y.view(-1, 1, 1).expand(-1, logits.shape[2], logits.shape[3])
            loss = F.cross_entropy(logits, target)
            if cfg.image_loss_weight:
                loss = loss + cfg.image_loss_weight * image_loss(logits, y, score_rule)
            if teacher is not None:
                with torch.no_grad():  # the whole batch, so its BatchNorm statistics are the student's
                    teacher_logits = teacher(x)
                loss = loss + cfg.distill_weight * distillation_loss(logits, teacher_logits, ~flags[0].bool())
            opt.zero_grad(set_to_none=True)
            loss.backward()
            opt.step()
            losses.append(float(loss.detach()))
            if hasattr(bar, "set_postfix"):
                bar.set_postfix(loss=f"{np.mean(losses[-20:]):.4f}")
        stop = torch.zeros(1)
        if rank == 0:
            val = validation_figures(model, val_loader, val_names, pre, device, score_rule, cfg.selection)
            score = val["val_selection"]
            rec = {"epoch": epoch, "train_loss": float(np.mean(losses)), **val,
                   "seconds": round(time.time() - t0, 1), "lr_end": opt.param_groups[0]["lr"]}
            history.append(rec)
            improved = cfg.selection == "last" or \
                (score, -val["val_loss"]) > (best.get("val_selection", best["val_ap"]), -best["val_loss"])
            if improved:
                best = {"val_ap": val["val_ap"], "val_loss": val["val_loss"], "val_selection": score, "epoch": epoch}
                save_checkpoint(out, model.state_dict(), {**run_config, "best_epoch": epoch,
                                                          "validation": {"ap": val["val_ap"], "loss": val["val_loss"]}})
            stale = 0 if improved else stale + 1
            opt_t, opt_meta = _optimizer_state(opt)
            meta = {"arch": cfg.arch, "epoch": epoch, "history": history, "best": best,
                    "optimizer": opt_meta, "sources": source_names}
            # the resume record travels inside the weights file (one atomic rename for both);
            # last.json is a readable copy
            save_state({**{f"model.{k}": v for k, v in model.state_dict().items()}, **opt_t},
                       state_dir / "last.safetensors", metadata={"resume": json.dumps(meta)})
            atomic_write_json(last_meta, meta)
            atomic_write_json(out / "metrics.json", {"best": best, "history": history})
            _plot_curves(history, out / "curves.png")
            if cfg.progress:
                print(f"epoch {epoch + 1}: train loss {rec['train_loss']:.4f}  val loss {val['val_loss']:.4f}  "
                      f"val AP {val['val_ap']:.4f}  selection {score:.4f}  acc {val['val_acc']:.3f}{'  *' if improved else ''}", file=sys.stderr)
            stop[0] = float(stale >= cfg.patience)
        if world > 1:
            import torch.distributed as dist

            dist.broadcast(stop, src=0)
            stale = cfg.patience if stop.item() else 0
    if world > 1:
        import torch.distributed as dist

        dist.barrier()
        dist.destroy_process_group()
    return out
