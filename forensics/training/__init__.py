"""Training machinery: everything that makes a detector, none of which scanning needs.

    data             labelled sources, deterministic splits, augmentation, the balanced training stream
    matched          matched real/fake image sets (one resize/format path for both classes)
    train            `forensics train`: the patch classifier's training loop (TrainConfig, train)
    mining           hard-example mining (the training files a detector gets most wrong)
    distill          distillation from a frozen teacher detector
    image_loss       the image-level loss (the scan's own aggregation rule)
    head_fit         `forensics fit-head`: refit a trained detector's head on whole-image features
    average          `forensics average`: weight-space averages of detectors (model soups)
    backbone_import  `forensics import-backbone`: a training start point from a pretrained backbone

Nothing here is imported by `forensics.detector`; import the modules you need (torch loads with them).
"""
