"""The model card's rule for replacing the shipped default (`ship_blockers`)."""
from __future__ import annotations

import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[2] / "benchmarks"))
from patch_card.recipe import NONINFERIORITY_MARGIN, ship_blockers  # noqa: E402


def figures(fpr: float = 0.0, control_fpr: float = 0.0, clean: float = 0.99, reencoded: float = 0.87,
            vs: dict | None = None) -> dict:
    """A card's figures with one real source, one downscale control and one fake set."""
    out = {"fpr": {"real:a": {"fpr": fpr}}, "control_downscale": {"real:a 2x": {"fpr": control_fpr}},
           "ap": {"fake:b": {"clean": clean, "jpeg75_resize0.5": reencoded}}}
    if vs is not None:
        out["vs_shipped"] = vs
    return out


def interval(difference: float, low: float, high: float) -> dict:
    return {"difference": difference, "low": low, "high": high}


SHIPPED = figures()


def test_a_resolved_gain_with_a_loss_inside_the_margin_replaces_the_shipped_model():
    trial = figures(clean=0.9895, reencoded=0.885,
                    vs={"clean": interval(-0.0005, -NONINFERIORITY_MARGIN["clean"] / 2, 0.0001),
                        "jpeg75_resize0.5": interval(0.015, 0.004, 0.025)})
    assert ship_blockers(SHIPPED, trial, 0.01) == []


def test_a_possible_loss_beyond_the_margin_blocks_even_with_a_resolved_gain():
    trial = figures(vs={"clean": interval(-0.001, -2 * NONINFERIORITY_MARGIN["clean"], 0.0001),
                        "jpeg75_resize0.5": interval(0.015, 0.004, 0.025)})
    blockers = ship_blockers(SHIPPED, trial, 0.01)
    assert len(blockers) == 1 and blockers[0].startswith("clean mean AP may be lower by more than 0.0015")


def test_no_resolved_gain_blocks():
    trial = figures(vs={"clean": interval(0.0001, -0.0002, 0.0003), "jpeg75_resize0.5": interval(0.004, -0.002, 0.01)})
    assert ship_blockers(SHIPPED, trial, 0.01) == ["no gain resolved"]


def test_false_positive_targets_block_whatever_the_accuracy():
    vs = {"clean": interval(0.001, 0.0005, 0.002), "jpeg75_resize0.5": interval(0.02, 0.01, 0.03)}
    assert ship_blockers(SHIPPED, figures(fpr=0.02, vs=vs), 0.01) == ["a real source's false-positive rate above 1%"]
    assert ship_blockers(SHIPPED, figures(control_fpr=0.05, vs=vs), 0.01) == [
        "a downscale-control false-positive rate above 1%"]


def test_without_intervals_both_mean_aps_must_rise():
    assert ship_blockers(SHIPPED, figures(clean=0.995, reencoded=0.88), 0.01) == []
    assert ship_blockers(SHIPPED, figures(clean=0.995, reencoded=0.87), 0.01) == ["JPEG75+0.5x mean AP not higher"]
    assert ship_blockers(SHIPPED, figures(clean=0.98, reencoded=0.88), 0.01) == ["clean mean AP lower"]


def test_carried_trials_keep_their_interval_only_against_the_same_shipped_model():
    from patch_card.recipe import carried_trials

    ap = {"fake:b": {"clean": 0.99, "jpeg75_resize0.5": 0.87}}
    vs = {"clean": interval(0.0, -0.001, 0.001), "jpeg75_resize0.5": interval(0.0, -0.01, 0.01)}
    earlier = {"model": "m1", "recipe": [{"config": "configs/m1.json"}], "ap": ap,
               "trials": {"t": {"config": "configs/t.json", "ap": ap, "vs_shipped": vs}}}
    same = {"model": "m1", "recipe": [{"config": "configs/m1.json"}], "ap": ap, "trials": {}}
    carried, why = carried_trials(earlier, same, "earlier.json")
    assert why == "" and carried["t"]["vs_shipped"] == vs and carried["t"]["carried_from"] == "earlier.json"
    newer = {"model": "m2", "recipe": [{"config": "configs/m2.json"}], "ap": ap,
             "trials": {"m1": {"config": "configs/m1.json", "ap": ap}}}
    carried, why = carried_trials(earlier, newer, "earlier.json")
    assert why == "" and "vs_shipped" not in carried["t"] and carried["t"]["ap"] == ap


def test_trials_first_scored_before_the_margin_rule_are_named_as_such():
    from patch_card.recipe import MARGIN_RULE_FROM, _not_kept_text, scored_before_margin_rule

    assert scored_before_margin_rule("forensics-default-v39-soup")
    assert not scored_before_margin_rule(f"forensics-default-v{MARGIN_RULE_FROM}-trial")
    assert not scored_before_margin_rule("my-model")
    good = {"clean": interval(-0.0002, -0.0005, 0.0001), "jpeg75_resize0.5": interval(0.012, 0.004, 0.02)}
    card = {**SHIPPED, "target_fpr": 0.01,
            "trials": {"forensics-default-v39-soup": figures(vs=good), "forensics-default-v44-trial": figures(vs=good)}}
    text = _not_kept_text(card, list(card["trials"]))
    assert "`forensics-default-v39-soup` (meets the current rule, but was first scored before it was fixed" in text
    assert "v44" not in text


def test_the_recipe_of_a_soup_lists_each_parallel_stage_once_after_what_it_starts_from(tmp_path):
    import json

    from patch_card.recipe import recipe_chain

    def run(name: str, **cfg) -> str:
        d = tmp_path / name
        d.mkdir()
        (d / "config.json").write_text(json.dumps({"arch": "resnet18_layer3_slim", **cfg}))
        return str(d)

    base = run("base", training={"lr": 0.001})
    seed0 = run("seed0", training={"lr": 0.0001, "init_from": base, "seed": 0})
    seed1 = run("seed1", training={"lr": 0.0001, "init_from": base, "seed": 1})
    soup = run("soup", averaged_from=[{"model": m, "weight": w} for m, w in ((base, 0.5), (seed0, 0.25), (seed1, 0.25))])
    stages = recipe_chain(Path(soup))
    assert [Path(s["run"]).name for s in stages] == ["base", "seed0", "seed1", "soup"]
    assert stages[-1]["command"] == "average" and stages[1]["lr"] == "0.0001 constant"


def test_a_head_refit_follows_the_stage_it_starts_from_in_the_recipe(tmp_path):
    """A `forensics fit-head` run is its own stage after its init_from (not after that model's own start),
    with a row, a trial text and a model-selection note that say what it fit."""
    import json

    from patch_card.recipe import _recipe_rows, _selection_caveat, _trial_change, recipe_chain

    base = tmp_path / "base"
    base.mkdir()
    (base / "config.json").write_text(json.dumps({"arch": "resnet18_layer3_slim", "training": {"lr": 0.001}}))
    refit = tmp_path / "refit"
    refit.mkdir()
    fit = {"init_from": str(base), "images_per_source": 200, "reencoded_views": 2, "cells_per_view": 48,
           "head_hidden": 0, "epochs": 30, "lr": 0.001}
    (refit / "config.json").write_text(json.dumps({"arch": "resnet18_layer3_slim", "head_fit": fit,
                                                   "training": {"lr": 0.001, "init_from": "elsewhere"}}))
    stages = recipe_chain(refit)
    assert [Path(s["run"]).name for s in stages] == ["base", "refit"]
    assert stages[-1]["command"] == "fit-head" and stages[-1]["head_fit"] == fit
    row = _recipe_rows(stages)[-1]
    assert "`forensics fit-head --config None`" in row and "of stage 1 (200 per source" in row and "linear head" in row
    assert "trunk kept" in _trial_change({"head_fit": fit}) and str(base) in _trial_change({"head_fit": fit})
    assert "refits the head for a fixed number of epochs on training images" in _selection_caveat(stages)
