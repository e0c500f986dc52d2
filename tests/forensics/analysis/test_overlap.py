"""Which analysed images a model was trained on, from the training record in its config."""
from pathlib import Path

from forensics.analysis.overlap import count_trained_on, overlap_notes, training_split
from forensics.data import in_validation


def make_files(folder: Path, n: int) -> list[Path]:
    folder.mkdir(parents=True)
    files = [folder / f"img_{i:03d}.png" for i in range(n)]
    for f in files:
        f.write_bytes(b"")
    return files


def test_hash_split_counts_only_the_training_part(tmp_path):
    trained = make_files(tmp_path / "data" / "fake", 40)
    other = make_files(tmp_path / "elsewhere", 5)
    cfg = {"training": {"real": [], "fake": ["data/fake"], "val_fraction": 0.25}}  # relative to a base
    folders, frac = training_split(cfg, bases=[tmp_path])
    assert frac == 0.25 and len(folders) == 1
    expected = sum(not in_validation(f, 0.25) for f in trained)
    assert 0 < expected < 40
    assert count_trained_on(cfg, trained, bases=[tmp_path]) == expected
    assert count_trained_on(cfg, other, bases=[tmp_path]) == 0
    notes = overlap_notes(cfg, {"gan": trained, "new": other}, bases=[tmp_path])
    assert len(notes) == 1 and f"{expected} of 40" in notes[0] and "'gan'" in notes[0]


def test_explicit_validation_folders_mean_every_file_was_trained_on(tmp_path):
    trained = make_files(tmp_path / "real", 6)
    cfg = {"training": {"real": [str(tmp_path / "real")], "fake": [], "val_real": ["x"], "val_fraction": 0.5}}
    assert count_trained_on(cfg, trained) == 6


def test_no_training_record_or_missing_folders(tmp_path):
    files = make_files(tmp_path / "a", 3)
    assert count_trained_on({}, files) == 0
    assert count_trained_on({"training": {"real": [str(tmp_path / "gone")]}}, files) == 0
    # a sibling folder whose name merely starts like the training folder is not inside it
    sibling = make_files(tmp_path / "ab", 2)
    assert count_trained_on({"training": {"real": [str(tmp_path / "a")]}}, sibling) == 0
    assert count_trained_on({"training": {"real": [str(tmp_path / "a")]}}, files) == 3
