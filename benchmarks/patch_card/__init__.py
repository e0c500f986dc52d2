"""The patch model's card (`python benchmarks/default_model_card.py`), by section:

    scoring   validation files per training source, degraded copies, cell maps, scores, paired comparisons
    figures   thresholds, AP per fake set, controls, calibration, small images
    recipe    the training stages behind a run, trials, and the rule a trial must pass to replace the model
    render    the card's Markdown (`write_card`)

Each module imports only the ones listed above it; `benchmarks/default_model_card.py` (the command line) and
`benchmarks/outside_reals.py` import from here, never the other way round.
"""
