"""The fused card's per-source table, from a recipe's cross-fitted scores (crossfit_scores.npz)."""
from __future__ import annotations

import sys
from pathlib import Path

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parents[2] / "benchmarks"))
from fused_card import (dealing_spread_line, dealings_line, kind_line, kind_rows, lineage_line, seen_rows,  # noqa: E402
                        seen_words, source_rows)


def test_source_rows_show_a_failing_source_that_its_family_hides(tmp_path: Path):
    rng = np.random.default_rng(0)
    parts = []
    for source, family, label, n, centre in (("art", "flux", 1, 60, 4.0), ("portraits", "flux", 1, 20, 0.0),
                                             ("photos", "camera", 0, 80, 0.0)):
        for cond in ("clean", "jpeg:75+resize:0.5"):
            parts.append((np.full(n, source), np.full(n, family), np.full(n, label), np.full(n, cond),
                           rng.normal(centre, 1.0, n)))
    source, family, label, condition, logit = (np.concatenate([p[i] for p in parts]) for i in range(5))
    keys = np.array([f"{s}/{i}" for i, s in enumerate(source)])
    path = tmp_path / "crossfit_scores.npz"
    np.savez_compressed(path, keys=keys, condition=condition, label=label, source=source, family=family,
                        clip_logit=logit, patch_score=np.full(len(logit), 0.5), fused_logit=logit)
    lines = source_rows(path, threshold=float(1 / (1 + np.exp(-2.0))), degraded="jpeg:75+resize:0.5")
    assert lines[0].startswith("| fake source | family | images |")
    body = [[c.strip() for c in line.strip("|").split("|")] for line in lines[2:]]
    assert [r[0] for r in body] == ["portraits", "art"]  # worst first
    portraits, art = body
    assert portraits[1] == art[1] == "flux" and portraits[2] == "20" and art[2] == "60"
    assert float(portraits[3]) < 0.75 < 0.95 < float(art[3])  # chance-like against the photos, and clear
    assert int(portraits[5].rstrip("%")) <= 15 and int(art[5].rstrip("%")) > 80  # share at P(fake) >= sigmoid(2)


def test_the_card_names_families_left_out_together_and_says_nothing_without_them():
    line = lineage_line({"fake_family_lineage": {"stylegan2": ["gpen", "eg3d"]}})
    assert len(line) == 1 and "gpen, eg3d with stylegan2" in line[0] and "fake_family_lineage" in line[0]
    assert lineage_line({}) == [] and lineage_line({"fake_family_lineage": {}}) == []


def test_dealings_line_says_how_many_dealings_the_figures_average():
    line = dealings_line({"real_groups": 3, "real_group_dealings": 3})
    assert len(line) == 1 and "3 held-out groups 3 different ways" in line[0]
    assert dealings_line({}) == [] and dealings_line({"real_group_dealings": 1}) == []


def test_the_seen_family_table_and_bullet_name_the_trained_families_that_stay_under_the_threshold():
    seen = {"folds": 5, "threshold": 0.96,
            "families": [{"family": "sd1", "n_clean": 300, "ap_clean": 0.95, "ap_degraded": 0.9, "flagged_clean": 0.2,
                          "flagged_degraded": 0.05},
                         {"family": "glid3", "n_clean": 80, "ap_clean": 1.0, "flagged_clean": 0.95}],
            "reals": [{"source": "a", "n_clean": 100, "fp_clean": 1}, {"source": "b", "n_clean": 50, "fp_clean": 0}]}
    rows = seen_rows(seen)
    assert "1 of 2 families have at least half their new images flagged; 1 of 150 held-out photos" in rows[0]
    body = [[c.strip() for c in line.strip("|").split("|")] for line in rows[4:]]
    assert body == [["glid3", "80", "1.000", "-", "95%", "-"], ["sd1", "300", "0.950", "0.900", "20%", "5%"]]
    words = seen_words(seen)
    assert len(words) == 1 and "1 of 2 families" in words[0] and "sd1 20% (AP 0.95)" in words[0] and "glid3" not in words[0]
    seen["families"] = seen["families"][1:]
    assert "all 1 families" in seen_words(seen)[0]


def test_the_dealing_spread_line_lists_sources_worst_first_and_is_absent_without_dealings():
    line = dealing_spread_line({"worst_dealing_fpr_per_source": {"a": 0.125, "b": 0.25}})
    assert len(line) == 1 and "b 25%, a 12%" in line[0]
    assert dealing_spread_line({"fpr_per_source": {}}) == []


def test_the_kind_bullet_and_table_say_how_images_are_routed_and_what_one_threshold_would_give():
    cfg = {"kinds": [{"name": "thermal", "members": ["infrared"], "offset": -0.73, "threshold_alone": 0.984,
                      "general_threshold_alone": 0.968}]}
    (line,) = kind_line(cfg)
    assert "`thermal` kind probe" in line and "-0.730" in line and "P(fake) >= 0.984" in line and "0.968" in line
    assert kind_line({}) == [] and kind_rows({}) == []
    # a kind with an expert and no offset of its own says how far its CLIP logit moves and that it keeps the threshold
    cfg["kinds"].append({"name": "face", "members": ["faces-hq", "stylegan2"], "offset": 0.0, "threshold_alone": 0.95,
                         "general_threshold_alone": 0.968, "expert": {"l2": 0.001, "weight": 0.5}})
    (line,) = kind_line(cfg)
    clauses = line.split("; an image that")
    assert len(clauses) == 2 and "-0.730" in clauses[0] and "expert" not in clauses[0]
    assert "real and generated images of faces-hq, stylegan2" in clauses[1] and "moved 50% of the way to the `face` expert" in clauses[1]
    assert "keeps the one threshold" in clauses[1] and "P(fake) >= 0.95," in clauses[1]
    fam = [{"family": "sd1", "ap_clean": 0.9, "flagged_clean": 0.6}, {"family": "dalle2", "ap_clean": 0.7, "flagged_clean": 0.0}]
    figures = {"kinds": {"routing": {"thermal": {
        "member_sources_routed": {"seek": 1.0, "road": 0.0}, "other_photos_routed": 6, "other_photos": 5383,
        "other_sources_routed": {"astro": 4, "urban100": 2}, "left_out_fakes_routed": {"ldm": "1/120"}}},
        "fused_without_kinds": {"threshold": 0.987, "families": fam}}}
    rows = kind_rows(figures)
    assert "| thermal | seek 100%, road 0% | 6/5383 (astro 4, urban100 2) | ldm 1/120 |" in rows
    assert any("threshold is 0.9870: 1 families at least half flagged, 1 with any flagged, 30.0% flagged on average, "
               "worst AP 0.700" in r for r in rows)
