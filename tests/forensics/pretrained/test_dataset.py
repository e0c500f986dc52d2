"""Recipe data sections: folders, limits and path filters read from real files."""
import pytest
from PIL import Image

from forensics.pretrained.dataset import DataConfigError, load_sources, missing_sources


def _folder_tree(root):
    for sub in ("wallpapers-a", "wallpapers-b", "faces-new"):
        (root / sub).mkdir(parents=True)
        for i in range(3):
            Image.new("RGB", (140, 140), (40 * i, 90, 200)).save(root / sub / f"{i}.png")


def test_include_keeps_only_the_named_subfolders_so_new_folders_stay_out(tmp_path):
    _folder_tree(tmp_path / "extra")
    cfg = {"data": {"roots": {"extra": "extra"}, "sources": [
        {"name": "walls", "label": "real", "family": "wallpaper", "path": "extra:",
         "include": ["wallpapers-a", "wallpapers-b"], "exclude": ["wallpapers-b/2"]},
        {"name": "faces", "label": "real", "family": "faces-hq", "path": "extra:faces-new", "limit": 2}]}}
    walls, faces = load_sources(cfg, tmp_path)
    assert sorted(f"{f.parent.name}/{f.name}" for f in walls.files) == [
        "wallpapers-a/0.png", "wallpapers-a/1.png", "wallpapers-a/2.png", "wallpapers-b/0.png", "wallpapers-b/1.png"]
    assert len(faces.files) == 2 and faces.label == 0


def test_a_missing_folder_is_an_error_only_when_required(tmp_path):
    cfg = {"data": {"roots": {"extra": "extra"}, "sources": [
        {"name": "gone", "label": "real", "family": "x", "path": "extra:nothing"}]}}
    assert load_sources(cfg, tmp_path) == []
    with pytest.raises(DataConfigError, match="gone"):
        load_sources(cfg, tmp_path, require=True)


def test_required_sources_absent_or_without_images_are_all_named_in_one_error(tmp_path):
    (tmp_path / "present").mkdir()
    (tmp_path / "empty").mkdir()
    Image.new("RGB", (32, 32), (120, 30, 200)).save(tmp_path / "present" / "a.png")
    cfg = {"data": {"sources": [{"name": n, "label": "real", "family": "camera", "path": n}
                                for n in ("present", "empty", "absent")]}}
    loaded = load_sources(cfg, tmp_path)
    assert [s.name for s in loaded] == ["present"] and missing_sources(cfg, loaded) == ["empty", "absent"]
    with pytest.raises(DataConfigError, match="2 sources not found .*: empty, absent$"):
        load_sources(cfg, tmp_path, require=True)
