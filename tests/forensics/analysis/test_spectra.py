"""Spectra: a planted periodic (upsampling-like) pattern must give peaks at the right frequencies."""
import numpy as np

from forensics.analysis.spectra import (SpectrumAccumulator, frequencies, highpass_residual, mean_spectrum,
                                        plot_spectra, spectral_peaks)


def noise_images(rng, n, size=64):
    return [np.clip(rng.normal(128, 20, (size, size, 3)), 0, 255).astype(np.uint8) for _ in range(n)]


def plant_lattice(img, period=4, amp=40):
    """Brighten every period-th pixel in both axes, like the checkerboard of a strided transposed conv."""
    out = img.astype(np.float32)
    out[::period, ::period] += amp
    return np.clip(out, 0, 255).astype(np.uint8)


def test_frequencies_axis():
    f = frequencies(8)
    assert f[4] == 0 and f[0] == -0.5 and f[-1] == 0.375


def test_highpass_removes_flat_content():
    flat = np.full((32, 32, 3), 120, np.uint8)
    assert np.abs(highpass_residual(flat)).max() < 1e-5


def test_planted_period_gives_peaks_at_multiples_of_one_over_period():
    rng = np.random.default_rng(0)
    fake = [plant_lattice(im, 4) for im in noise_images(rng, 16)]
    peaks = spectral_peaks(mean_spectrum(fake), k=20)
    found = {(p["fy"], p["fx"]) for p in peaks}
    assert {(0.0, 0.25), (0.25, 0.0), (0.0, 0.5), (0.5, 0.0), (0.25, 0.25)} <= found
    assert all((4 * p["fy"]).is_integer() and (4 * p["fx"]).is_integer() for p in peaks)
    # the same pattern in images of another size, resampled to a common size, peaks at the same frequencies
    acc = SpectrumAccumulator(size=64)
    for im in noise_images(rng, 8, size=128):
        acc.add(plant_lattice(im, 4))
    f2 = {(p["fy"], p["fx"]) for p in spectral_peaks(acc.mean, k=20)}
    assert (0.25, 0.0) in f2 and (0.0, 0.25) in f2


def test_period_two_and_clean_noise():
    rng = np.random.default_rng(1)
    peaks = spectral_peaks(mean_spectrum([plant_lattice(im, 2) for im in noise_images(rng, 16)]))
    assert {(p["fy"], p["fx"]) for p in peaks} == {(0.5, 0.0), (0.0, 0.5), (0.5, 0.5)}
    assert spectral_peaks(mean_spectrum(noise_images(rng, 16))) == []


def test_plot_spectra(tmp_path):
    rng = np.random.default_rng(2)
    s = mean_spectrum(noise_images(rng, 2, 32))
    p = plot_spectra([("a", s), ("b", s)], tmp_path / "s.png")
    assert p.read_bytes()[:4] == b"\x89PNG"
