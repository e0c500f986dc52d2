"""End-to-end training on a tiny real folder pair (seconds), resume, eval and calibrate."""
import json

import numpy as np
import pytest
import torch
from PIL import Image

from forensics import Detector
from forensics.calibrate import calibrate, threshold_for_fpr
from forensics.evaluate import evaluate
from forensics.training.train import TrainConfig, train


def _cfg(folders, out, **kw):
    base = dict(real=[str(folders / "real")], fake=[str(folders / "fake")], out=str(out), arch="resnet18_layer1",
                epochs=2, steps_per_epoch=5, batch_size=8, size=48, val_size=64, val_fraction=0.25,
                workers=0, progress=False, device="cpu")
    base.update(kw)
    return TrainConfig(**base)


def test_train_writes_run_dir_and_detects_planted_artifact(folders, tmp_path):
    run = train(_cfg(folders, tmp_path / "run", epochs=3, steps_per_epoch=10))
    for name in ("config.json", "model.safetensors", "metrics.json", "curves.png"):
        assert (run / name).is_file()
    metrics = json.loads((run / "metrics.json").read_text())
    assert len(metrics["history"]) == 3
    assert metrics["best"]["val_ap"] > 0.9  # the checkerboard is easy to see in 43 px patches
    det = Detector.load(run, device="cpu")
    assert det.config["preprocessing"]["mean"] == [0.5, 0.5, 0.5]


def test_resume_continues_from_last_epoch(folders, tmp_path):
    out = tmp_path / "run"
    train(_cfg(folders, out, epochs=1))
    train(_cfg(folders, out, epochs=2))
    hist = json.loads((out / "metrics.json").read_text())["history"]
    assert [h["epoch"] for h in hist] == [0, 1]


def test_eval_and_calibrate(folders, tmp_path):
    run = train(_cfg(folders, tmp_path / "run"))
    det = Detector.load(run, device="cpu")
    res = evaluate(det, [folders / "real"], {"checker": folders / "fake"}, perturb="jpeg:90", progress=False)
    assert set(res["conditions"]) == {"clean", "jpeg:90"}
    m = res["conditions"]["clean"]["fake_sets"]["checker"]
    assert 0 <= m["ap"] <= 1 and m["n_real"] == m["n_fake"] > 0
    from forensics.metrics import calibration_error

    rs, fs = m["_scores"]
    labels = np.r_[np.zeros(rs.size), np.ones(fs.size)]
    weights = np.r_[np.full(rs.size, 0.5 / rs.size), np.full(fs.size, 0.5 / fs.size)]
    assert m["ece"] == pytest.approx(calibration_error(labels, np.r_[rs, fs], weights)["ece"])
    assert 0 <= res["conditions"]["clean"]["overall"]["ece"] <= 1
    rec = calibrate(run, [folders / "real"], fake_dirs=[folders / "fake"], target_fpr=0.05, progress=False)
    cfg = json.loads((run / "config.json").read_text())
    assert cfg["threshold"] == rec["threshold"] and cfg["calibration"]["target_fpr"] == 0.05
    assert rec["fpr_per_source"]["real"] <= 0.05


def test_calibrate_can_set_the_image_score_rule(folders, tmp_path):
    from forensics.aggregate import ScoreRule

    run = train(_cfg(folders, tmp_path / "run"))
    rec = calibrate(run, [folders / "real"], target_fpr=0.05, progress=False, score_rule=ScoreRule.parse("topk:0.5"))
    det = Detector.load(run, device="cpu")
    assert rec["aggregation"] == "topk:0.5" and det.score_rule == ScoreRule("topk", 0.5)
    reals = sorted((folders / "real").glob("*.png"))
    scores = np.array([det.scan(p).score for p in reals])
    assert det.threshold == pytest.approx(threshold_for_fpr(scores, 0.05), abs=1e-6)  # set under the new rule


def test_threshold_for_fpr():
    s = np.linspace(0, 1, 101)
    t = threshold_for_fpr(s, 0.05)
    assert (s >= t).mean() <= 0.05 and (s >= t).mean() >= 0.04


def test_threshold_sits_on_the_reported_score_grid():
    """Scans report and decide on 6-decimal scores: the highest allowed real must stay under the threshold
    as reported, including when rounding carries it up (0.99723227 -> 0.997232, not above a 0.997232 cut)."""
    reals = np.array([0.1, 0.5, 0.99723227892])
    t = threshold_for_fpr(reals, 0.01)
    assert t == 0.997233 and round(reals.max(), 6) < t
    assert threshold_for_fpr(np.array([0.2, 0.9999996]), 0.01) == 1.0
    assert threshold_for_fpr(np.array([0.3, 0.4000004]), 0.01) == 0.400001


def test_scan_verdicts_agree_with_reported_scores(folders, tmp_path):
    """A record's label follows its reported score: fake exactly when score >= threshold, at any threshold
    (here set to a reported score, the boundary case)."""
    run = train(_cfg(folders, tmp_path / "run"))
    det = Detector.load(run, device="cpu")
    files = sorted((folders / "real").glob("*.png"))[:6] + sorted((folders / "fake").glob("*.png"))[:6]
    scores = [det.scan(p).score for p in files]
    for t in scores:
        det.threshold = t
        for p, r in zip(files, det.scan_many(files, provenance=False)):
            assert (r.label == "fake") == (r.score >= t) and r.score == det.score(p)


def test_warm_start_copies_matching_tensors_into_a_deeper_model(folders, tmp_path):
    import torch
    from safetensors.torch import load_file

    from forensics.models import build_model
    from forensics.training.train import warm_start

    src = train(_cfg(folders, tmp_path / "layer1", epochs=1))
    deeper = build_model("resnet18_layer2")
    copied, total = warm_start(deeper, src)
    saved = load_file(str(src / "model.safetensors"))
    own = deeper.state_dict()
    assert 0 < copied < total  # stem and layer1 copied, layer2 and the wider head not
    assert torch.equal(own["trunk.body.conv1.weight"], saved["trunk.body.conv1.weight"].to(own["trunk.body.conv1.weight"].dtype))
    assert own["head.weight"].shape != saved["head.weight"].shape
    # the same through training: the run starts from the copied stem
    run = train(_cfg(folders, tmp_path / "layer2", arch="resnet18_layer2", epochs=1, steps_per_epoch=1,
                     init_from=str(src), selection="mean_source_ap"))
    best = json.loads((run / "metrics.json").read_text())["best"]
    assert "val_selection" in best and 0.0 <= best["val_selection"] <= 1.0


def test_selection_score_averages_fake_sources():
    from forensics.training.train import selection_score

    per = {"fake:a": {"ap": 1.0}, "fake:b": {"ap": 0.5}, "real:x": {"n": 3, "fpr_at_0.5": 0.0}}
    assert selection_score(0.9, per, "pooled_ap") == 0.9
    assert selection_score(0.9, per, "mean_source_ap") == pytest.approx(0.75)


def test_unknown_selection_and_unrelated_init_are_refused(folders, tmp_path):
    with pytest.raises(ValueError, match="unknown selection"):
        train(_cfg(folders, tmp_path / "a", selection="best_guess"))
    from forensics.checkpoint import CheckpointError

    with pytest.raises(CheckpointError, match="not found"):
        train(_cfg(folders, tmp_path / "b", init_from=str(tmp_path / "missing")))


def test_cosine_schedule_anneals_to_zero_and_constant_stays():
    from forensics.training.train import learning_rate

    assert learning_rate(1e-3, "constant", 500, 1000) == 1e-3
    assert learning_rate(1e-3, "cosine", 0, 1000) == pytest.approx(1e-3)
    assert learning_rate(1e-3, "cosine", 500, 1000) == pytest.approx(5e-4)
    assert learning_rate(1e-3, "cosine", 1000, 1000) == pytest.approx(0.0, abs=1e-12)
    with pytest.raises(ValueError, match="unknown lr schedule"):
        learning_rate(1e-3, "step", 0, 10)


def test_last_selection_keeps_final_epoch_and_cosine_lr_reaches_zero(folders, tmp_path):
    run = train(_cfg(folders, tmp_path / "run", epochs=3, selection="last", lr_schedule="cosine"))
    metrics = json.loads((run / "metrics.json").read_text())
    assert metrics["best"]["epoch"] == 2  # the saved weights are the last epoch's, whatever validation said
    assert json.loads((run / "config.json").read_text())["best_epoch"] == 2
    lrs = [h["lr_end"] for h in metrics["history"]]
    assert lrs[0] > lrs[1] > lrs[2] >= 0.0 and lrs[2] < 0.05 * lrs[0]


def test_small_batches_train_thumbnails_as_they_are_scanned(folders, tmp_path):
    """With small batches the model also sees unpadded 32-40 px inputs; the recipe records the share,
    and 32 px crops of the planted-artifact images still score above 32 px crops of the reals."""
    from forensics.metrics import binary_metrics

    run = train(_cfg(folders, tmp_path / "run", epochs=3, steps_per_epoch=12, small_fraction=0.5))
    det = Detector.load(run, device="cpu")
    assert det.config["training"]["small_fraction"] == 0.5
    crops = {lab: [np.asarray(Image.open(p))[16:48, 16:48] for p in sorted((folders / lab).glob("*.png"))[:12]]
             for lab in ("real", "fake")}
    scores = [r.score for lab in ("real", "fake") for r in det.scan_many(crops[lab], provenance=False)]
    assert binary_metrics(np.array([0] * 12 + [1] * 12), np.array(scores))["ap"] > 0.8


def test_hard_real_mining_ranks_once_and_records_the_files(folders, tmp_path):
    """A stage with hard-real mining ranks the real training files with its warm-start model, records the
    hard ones, and a resumed run reuses the ranking instead of scoring again."""
    from forensics.training.mining import MINED_NAME

    first = train(_cfg(folders, tmp_path / "first", epochs=1))
    out = tmp_path / "mined"
    train(_cfg(folders, out, epochs=1, init_from=str(first), hard_real_share=0.5, hard_real_top=0.25))
    cfg = json.loads((out / "config.json").read_text())["training"]
    cache = json.loads((out / MINED_NAME).read_text())
    n_train_reals = cfg["sources"]["real:real"]
    assert len(cache["scores"]) == n_train_reals
    assert len(cfg["hard_reals"]) == round(0.25 * n_train_reals)
    ranked = sorted(cache["scores"], key=lambda p: -cache["scores"][p])
    assert cfg["hard_reals"] == ranked[:len(cfg["hard_reals"])]
    stamp = (out / MINED_NAME).stat().st_mtime_ns
    train(_cfg(folders, out, epochs=2, init_from=str(first), hard_real_share=0.5, hard_real_top=0.25))
    assert (out / MINED_NAME).stat().st_mtime_ns == stamp
    assert len(json.loads((out / "metrics.json").read_text())["history"]) == 2


def test_hard_real_mining_needs_a_model_to_rank_with(folders, tmp_path):
    with pytest.raises(ValueError, match="hard_real_model"):
        train(_cfg(folders, tmp_path / "run", hard_real_share=0.3))
    with pytest.raises(ValueError, match="hard_fake_model"):
        train(_cfg(folders, tmp_path / "run2", hard_fake_share=0.3))


def test_hard_fake_mining_records_the_fakes_scored_most_real(folders, tmp_path):
    """Hard-fake mining ranks the fake training files with its warm-start model, lowest score first, and
    records the hard ones; it can run together with hard-real mining (two caches)."""
    from forensics.training.mining import MINED_FAKES_NAME, MINED_NAME

    first = train(_cfg(folders, tmp_path / "first", epochs=1))
    out = tmp_path / "mined"
    train(_cfg(folders, out, epochs=1, init_from=str(first), hard_fake_share=0.5, hard_fake_top=0.25,
               hard_real_share=0.3, hard_real_top=0.25))
    cfg = json.loads((out / "config.json").read_text())["training"]
    cache = json.loads((out / MINED_FAKES_NAME).read_text())
    n_train_fakes = cfg["sources"]["fake:fake"]
    assert len(cache["scores"]) == n_train_fakes
    assert len(cfg["hard_fakes"]) == round(0.25 * n_train_fakes)
    ranked = sorted(cache["scores"], key=lambda p: cache["scores"][p])
    assert cfg["hard_fakes"] == ranked[:len(cfg["hard_fakes"])]
    assert (out / MINED_NAME).is_file() and cfg["hard_reals"] and not set(cfg["hard_reals"]) & set(cfg["hard_fakes"])


def test_a_stage_keeps_its_warm_start_models_score_rule(folders, tmp_path):
    """A stage continues its model, image-score rule included; `aggregation` replaces it."""
    from forensics.aggregate import ScoreRule

    first = train(_cfg(folders, tmp_path / "first", epochs=1, aggregation="topk:0.5"))
    assert ScoreRule.from_config(json.loads((first / "config.json").read_text())) == ScoreRule("topk", 0.5)
    second = train(_cfg(folders, tmp_path / "second", epochs=1, init_from=str(first)))
    assert ScoreRule.from_config(json.loads((second / "config.json").read_text())) == ScoreRule("topk", 0.5)
    third = train(_cfg(folders, tmp_path / "third", epochs=1, init_from=str(first), aggregation="mean_logit"))
    assert ScoreRule.from_config(json.loads((third / "config.json").read_text())).name == "mean_logit"
    plain = train(_cfg(folders, tmp_path / "plain", epochs=1))
    assert ScoreRule.from_config(json.loads((plain / "config.json").read_text())) == ScoreRule()
    with pytest.raises(ValueError, match="unknown aggregation"):
        train(_cfg(folders, tmp_path / "bad", aggregation="median"))


def test_validation_scores_follow_the_score_rule(folders, tmp_path):
    """The validation AP a stage logs is computed under its image-score rule."""
    from torch.utils.data import DataLoader

    from forensics.aggregate import ScoreRule
    from forensics.training.data import REAL, FAKE, ValidationSet, make_sources
    from forensics.models import build_model
    from forensics.preprocess import Preprocessing
    from forensics.training.train import evaluate_loader

    import torch

    sources = make_sources([folders / "real"], REAL, split=None, val_fraction=0) + \
        make_sources([folders / "fake"], FAKE, split=None, val_fraction=0)
    loader = DataLoader(ValidationSet(sources, 64, per_source=4), batch_size=8)
    torch.manual_seed(0)
    model = build_model("resnet18_layer1")
    plain = evaluate_loader(model, loader, Preprocessing(), torch.device("cpu"))
    top = evaluate_loader(model, loader, Preprocessing(), torch.device("cpu"), ScoreRule("topk", 0.25))
    assert plain["scores"].shape == top["scores"].shape == (8,)
    assert np.all(top["scores"] >= plain["scores"] - 1e-9) and not np.allclose(top["scores"], plain["scores"])


def test_fit_platt_recovers_a_known_scaling():
    """Labels drawn from sigmoid(2 * logit(s) - 1): the fit finds slope 2 and intercept -1."""
    from forensics.calibrate import fit_platt

    rng = np.random.default_rng(0)
    s = rng.uniform(0.01, 0.99, 20000)
    y = (rng.random(s.size) < 1 / (1 + np.exp(-(2 * np.log(s / (1 - s)) - 1)))).astype(float)
    slope, intercept = fit_platt(s, y)
    assert slope == pytest.approx(2.0, abs=0.1) and intercept == pytest.approx(-1.0, abs=0.1)
    with pytest.raises(ValueError, match="real and fake"):
        fit_platt(s, np.zeros(s.size))


def test_calibrate_fits_a_score_scaling_and_sets_the_threshold_on_it(folders, tmp_path):
    """With --fit-scaling the stored rule rescales scores; the threshold is set on rescaled scores, so at
    most the target share of reals is flagged; a later calibration without it clears the scaling."""
    from forensics.aggregate import ScoreRule

    run = train(_cfg(folders, tmp_path / "run"))
    rec = calibrate(run, [folders / "real"], fake_dirs=[folders / "fake"], target_fpr=0.05, progress=False,
                    fit_scaling=True)
    cfg = json.loads((run / "config.json").read_text())
    rule = ScoreRule.from_config(cfg)
    assert rule.is_rescaled and cfg["score_scaling"]["slope"] == rec["score_scaling"]["slope"]
    det = Detector.load(run, device="cpu")
    reals = [det.score(p) for p in sorted((folders / "real").glob("*.png"))]
    assert np.mean(np.array(reals) >= det.threshold) <= 0.05
    raw = ScoreRule.from_config(cfg).with_scaling()
    first = sorted((folders / "real").glob("*.png"))[0]
    # scores are reported to SCORE_DECIMALS: compare to one step of that grid
    assert det.score(first) == pytest.approx(rule.with_scaling(rule.slope, rule.intercept)(det.cell_map(first).fake_logit),
                                             abs=1e-6)
    assert det.score(first) != pytest.approx(raw(det.cell_map(first).fake_logit))
    calibrate(run, [folders / "real"], target_fpr=0.05, progress=False, score_rule=ScoreRule.parse("mean_prob"))
    assert json.loads((run / "config.json").read_text())["score_scaling"] is None
    with pytest.raises(ValueError, match="needs fake folders"):
        calibrate(run, [folders / "real"], progress=False, fit_scaling=True)


def test_image_loss_trains_and_is_checked_before_the_run(folders, tmp_path):
    run = train(_cfg(folders, tmp_path / "run", epochs=3, steps_per_epoch=10, aggregation="topk:0.5",
                     image_loss_weight=1.0))
    metrics = json.loads((run / "metrics.json").read_text())
    assert metrics["best"]["val_ap"] > 0.9
    assert json.loads((run / "config.json").read_text())["training"]["image_loss_weight"] == 1.0
    with pytest.raises(ValueError, match="image loss needs one of"):
        train(_cfg(folders, tmp_path / "vote", aggregation="vote", image_loss_weight=1.0))
    with pytest.raises(ValueError, match="image_loss_weight must be >= 0"):
        train(_cfg(folders, tmp_path / "neg", image_loss_weight=-1.0))


def test_distillation_keeps_the_student_near_its_teacher_and_is_checked(folders, tmp_path):
    """A stage distilled from its warm-start model moves its cell outputs on plain crops less than the same
    stage without distillation; the options are checked before any work."""
    from forensics.decoding import load_image

    teacher = train(_cfg(folders, tmp_path / "teacher", epochs=2, steps_per_epoch=15))
    stage = dict(epochs=1, steps_per_epoch=20, lr=1e-3, init_from=str(teacher), reencode_fraction=0.3, seed=1)
    free = train(_cfg(folders, tmp_path / "free", **stage))
    kept = train(_cfg(folders, tmp_path / "kept", distill_from=str(teacher), distill_weight=20.0, **stage))
    assert json.loads((kept / "config.json").read_text())["training"]["distill_from"] == str(teacher)
    images = [load_image(p).rgb for p in sorted((folders / "real").glob("*.png"))[:6] +
              sorted((folders / "fake").glob("*.png"))[:6]]
    base = Detector.load(teacher, device="cpu")

    def drift(run):
        det = Detector.load(run, device="cpu")
        return float(np.mean([np.abs(det.cell_map(a).fake_logit - base.cell_map(a).fake_logit).mean() for a in images]))

    assert drift(kept) < drift(free)
    for bad, match in ((dict(distill_weight=1.0), "needs both"), (dict(distill_from=str(teacher)), "needs both"),
                       (dict(distill_from=str(teacher), distill_weight=-1.0), "distill_weight must be >= 0")):
        with pytest.raises(ValueError, match=match):
            train(_cfg(folders, tmp_path / "bad", **bad))
    assert not (tmp_path / "bad" / "model.safetensors").exists()


def test_a_frozen_trunk_stage_trains_only_its_mlp_head(folders, tmp_path):
    """With head_hidden and freeze_trunk, a stage warm-started from a linear-head detector keeps that
    detector's trunk tensors (BatchNorm statistics included) and learns only its heads; the run loads
    as a detector with the MLP head."""
    from forensics.checkpoint import read_state

    base = train(_cfg(folders, tmp_path / "base", epochs=1, steps_per_epoch=10))
    run = train(_cfg(folders, tmp_path / "mlp", epochs=1, steps_per_epoch=10, lr=1e-3, init_from=str(base),
                     head_hidden=16, freeze_trunk=True, reencode_fraction=0.5, distill_from=str(base),
                     distill_weight=1.0))
    cfg = json.loads((run / "config.json").read_text())
    assert cfg["head_hidden"] == 16 and cfg["training"]["freeze_trunk"] is True
    before, after = read_state(base, json.loads((base / "config.json").read_text())), read_state(run, cfg)
    trunk = [k for k in before if k.startswith("trunk.")]
    assert trunk and all(torch.equal(before[k], after[k]) for k in trunk)
    assert after["head_mlp.body.3.weight"].abs().sum() > 0  # started at zero, trained
    assert not torch.equal(before["head.weight"], after["head.weight"])
    assert Detector.load(run, device="cpu").model.head_mlp is not None
    with pytest.raises(ValueError, match="freeze_trunk needs init_from"):
        train(_cfg(folders, tmp_path / "bad", freeze_trunk=True))
