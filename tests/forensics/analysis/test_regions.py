"""Region statistics: grid and texture labellers, the random baseline table, the optional face parser."""
import sys
from collections import Counter
from pathlib import Path

import numpy as np
import pytest

from forensics.analysis.regions import (GridLabeller, RegionCounts, TextureLabeller, count_regions, default_labellers,
                                        label_points, plot_region_histograms, region_table)


def test_grid_labeller_names_and_map():
    g = GridLabeller(3, 3)
    lm = g.label_map(np.zeros((30, 60, 3), np.uint8))
    assert lm.shape == (30, 60)
    assert g.regions[lm[0, 0]] == "top-left" and g.regions[lm[15, 30]] == "centre"
    assert g.regions[lm[29, 59]] == "bottom-right"
    assert g.regions[g.label_at(29, 0, 30, 60)] == "bottom-left"


def test_texture_labeller_finds_the_detailed_area():
    rng = np.random.default_rng(0)
    img = np.full((48, 48, 3), 128, np.uint8)
    img[:, 32:] = rng.integers(0, 255, (48, 16, 3))
    t = TextureLabeller()
    lm = t.label_map(img)
    assert t.regions[lm[24, 44]] == "detailed" and t.regions[lm[24, 4]] == "smooth"


def test_region_table_enrichment():
    rows = region_table(("a", "b"), Counter({"a": 8, "b": 2}), Counter({"a": 5, "b": 5}))
    a = rows[0]
    assert a["top_share"] == 0.8 and a["random_share"] == 0.5 and abs(a["enrichment"] - 1.6) < 1e-9
    assert region_table(("a",), Counter(), Counter({"a": 1}))[0]["enrichment"] == 0


def test_count_regions_and_skip_when_not_applicable(tmp_path):
    class Never:
        name, regions = "never", ("x",)

        def label_map(self, rgb):
            return None

    img = np.zeros((30, 30, 3), np.uint8)
    c = RegionCounts("grid3x3", GridLabeller().regions)
    assert count_regions(GridLabeller(), img, [(1, 1)], [(29, 29), (15, 15)], c)
    assert c.top["top-left"] == 1 and c.random["bottom-right"] == 1 and c.random["centre"] == 1
    n = RegionCounts("never", ("x",))
    assert not count_regions(Never(), img, [(1, 1)], [], n) and n.n_skipped == 1
    assert label_points(np.array([[0, 1], [2, 3]]), [(-5, 9)]) == [1]
    p = plot_region_histograms([("set", [c, n])], tmp_path / "r.png")
    assert p.read_bytes()[:4] == b"\x89PNG"


def test_faces_missing_gives_a_clear_message(monkeypatch):
    """With mediapipe not importable (None in sys.modules makes `import mediapipe` fail), say how to install it."""
    from forensics.analysis import faces

    monkeypatch.setitem(sys.modules, "mediapipe", None)
    assert not faces.faces_available()
    with pytest.raises(faces.FacesUnavailable, match=r"forensics\[faces\]"):
        faces.FaceLabeller()
    notes = []
    labs = default_labellers(faces=None, warn=notes.append)  # auto: fall back, say why once
    assert [lab.name for lab in labs] == ["grid3x3", "texture"]
    assert notes and "mediapipe" in notes[0].lower()
    with pytest.raises(faces.FacesUnavailable):
        default_labellers(faces=True)
    assert [lab.name for lab in default_labellers(faces=False)] == ["grid3x3", "texture"]


def _face_labeller():
    from forensics.analysis import faces

    if not faces.faces_available():
        pytest.skip("mediapipe 0.10.14 not installed (optional extra `faces`: pip install 'forensics[faces]')")
    return faces.FaceLabeller()


def test_face_labeller_finds_no_face_in_a_blank_image():
    assert _face_labeller().label_map(np.zeros((64, 64, 3), np.uint8)) is None


CELEBA_VAL = Path(__file__).resolve().parents[3].parent / "shared" / "data" / "real" / "celeba" / "val"


@pytest.mark.skipif(not CELEBA_VAL.is_dir(), reason="development data ../shared/data/real/celeba/val not present")
def test_face_labeller_parts_are_where_they_belong_on_real_faces():
    """On aligned CelebA faces: eyes above the nose above the lips, all inside the face; background at the corners."""
    from forensics.decoding import load_image

    lab = _face_labeller()
    names = lab.regions
    files = sorted(CELEBA_VAL.glob("*.jpg"))[:4]
    for f in files:
        lm = lab.label_map(load_image(f).rgb)
        assert lm is not None, f"no face found in {f.name}"
        rows = {r: np.nonzero(lm == names.index(r))[0].mean() / lm.shape[0] for r in ("eyes", "nose", "lips", "skin")}
        assert rows["eyes"] < rows["nose"] < rows["lips"], (f.name, rows)
        assert 0.3 < rows["skin"] < 0.8
        eyes_x = np.nonzero(lm == names.index("eyes"))[1] / lm.shape[1]
        assert eyes_x.min() < 0.45 and eyes_x.max() > 0.55  # both eyes
        assert names[lm[0, 0]] in ("background", "hair/person")
