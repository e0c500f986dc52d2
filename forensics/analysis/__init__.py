"""Artifact analysis: where each generator leaves evidence (mean heatmaps, top patches, regions, spectra).

The building blocks are plain numpy functions on arrays and cell maps:

- `heatmaps`: mean P(fake) maps per set at a common size (all / easiest N / hardest N), difference to reals;
- `patches`: receptive-field windows of each image's most confident cell, one per image, grids;
- `regions`: which region (face part, spatial grid cell, texture band) top patches fall in vs random patches;
- `spectra`: mean Fourier amplitude spectrum of high-pass residuals, periodic peak finder;
- `overlap`: which analysed images the detector was trained on (reports flag optimistic sets);
- `pipeline`: one pass of a detector over named image sets that collects all of the above.
"""
from forensics.analysis.heatmaps import (SetHeatmaps, add_differences, mean_heatmap, peak_location,
                                         plot_mean_heatmaps, resize_map, set_heatmaps)
from forensics.analysis.patches import Geometry, TopPatch, extract_window, patch_grid, select_top, top_patch
from forensics.analysis.overlap import count_trained_on, overlap_notes
from forensics.analysis.pipeline import Analysis, ImageSet, analyze_sets, parse_named_dirs
from forensics.analysis.regions import (GridLabeller, RegionCounts, TextureLabeller, default_labellers,
                                        region_table)
from forensics.analysis.spectra import amplitude_spectrum, highpass_residual, mean_spectrum, spectral_peaks

__all__ = ["Analysis", "Geometry", "GridLabeller", "ImageSet", "RegionCounts", "SetHeatmaps", "TextureLabeller",
           "TopPatch", "add_differences", "amplitude_spectrum", "analyze_sets", "count_trained_on", "default_labellers",
           "extract_window", "highpass_residual", "mean_heatmap", "mean_spectrum", "overlap_notes", "parse_named_dirs",
           "patch_grid", "peak_location", "plot_mean_heatmaps", "region_table", "resize_map", "select_top",
           "set_heatmaps", "spectral_peaks", "top_patch"]
