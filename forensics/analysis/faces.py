"""Face regions from MediaPipe (optional extra `faces`: `pip install "forensics[faces]"`).

MediaPipe 0.10.14 ships the face-mesh and selfie-segmentation models inside its wheel (newer
releases no longer do), so parsing works offline. Regions: background, hair/person (person mask
outside the face oval), skin (face oval), nose, brows, eyes, lips/mouth.
"""
from __future__ import annotations

import contextlib
import os
import warnings
from typing import Iterator, Optional

import cv2
import numpy as np

FACE_REGIONS = ("background", "hair/person", "skin", "nose", "brows", "eyes", "lips")
INSTALL_HINT = ('face regions need MediaPipe 0.10.14 (the last release that ships its face models): '
                'pip install "forensics[faces]"; using the spatial grid and texture bands instead')
# nose landmarks of the 468-point face mesh (bridge, tip, alae), used when FACEMESH_NOSE is absent
_NOSE_FALLBACK = (1, 2, 4, 5, 6, 19, 45, 48, 64, 94, 97, 98, 115, 129, 168, 195, 197, 275, 278, 294, 326, 327,
                  344, 358)


class FacesUnavailable(ImportError):
    """MediaPipe (with its bundled face models) is not installed."""


def _mediapipe():
    os.environ.setdefault("GLOG_minloglevel", "2")  # MediaPipe's C++ logging: errors only
    try:
        with _quiet():
            import mediapipe as mp  # type: ignore

        _ = mp.solutions.face_mesh.FaceMesh  # the legacy solutions API carries the bundled models
        return mp
    except Exception as e:  # ImportError, or a release without `solutions`
        reason = str(e).splitlines()[0] if str(e) else ""
        raise FacesUnavailable(f"{INSTALL_HINT} ({type(e).__name__}: {reason})") from None


@contextlib.contextmanager
def _native_stderr_silenced() -> Iterator[None]:
    """Send file descriptor 2 to /dev/null for a moment (MediaPipe's C++ start-up chatter bypasses Python)."""
    import sys

    try:
        sys.stderr.flush()
        saved = os.dup(2)
    except (OSError, ValueError, AttributeError):
        yield
        return
    devnull = os.open(os.devnull, os.O_WRONLY)
    try:
        os.dup2(devnull, 2)
        yield
    finally:
        os.dup2(saved, 2)
        os.close(saved)
        os.close(devnull)


@contextlib.contextmanager
def _quiet() -> Iterator[None]:
    """Silence the protobuf deprecation warning that MediaPipe 0.10.14 triggers on every call."""
    with warnings.catch_warnings():
        warnings.filterwarnings("ignore", category=UserWarning, module=r"google\.protobuf.*")
        yield


def faces_available() -> bool:
    try:
        _mediapipe()
        return True
    except FacesUnavailable:
        return False


def _indices(connections) -> list[int]:
    return sorted({int(i) for edge in connections for i in edge})


class FaceLabeller:
    """Label map over FACE_REGIONS; `label_map` returns None when no face is found."""

    name = "face"
    regions = FACE_REGIONS

    def __init__(self, *, min_side: int = 256, min_confidence: float = 0.3) -> None:
        mp = _mediapipe()
        fm = mp.solutions.face_mesh
        with _native_stderr_silenced(), _quiet():  # TFLite/absl start-up lines on creation and first use
            self._mesh = fm.FaceMesh(static_image_mode=True, max_num_faces=1, refine_landmarks=False,
                                     min_detection_confidence=min_confidence)
            self._seg = mp.solutions.selfie_segmentation.SelfieSegmentation(model_selection=0)
            self._mesh.process(np.zeros((64, 64, 3), np.uint8))
            self._seg.process(np.zeros((64, 64, 3), np.uint8))
        self.min_side = min_side
        nose = getattr(fm, "FACEMESH_NOSE", None)
        self._parts = [  # drawn in this order; later parts win
            ("skin", _indices(fm.FACEMESH_FACE_OVAL)),
            ("nose", _indices(nose) if nose else list(_NOSE_FALLBACK)),
            ("brows", None), ("eyes", None), ("lips", _indices(fm.FACEMESH_LIPS)),
        ]
        self._pairs = {"brows": (_indices(fm.FACEMESH_LEFT_EYEBROW), _indices(fm.FACEMESH_RIGHT_EYEBROW)),
                       "eyes": (_indices(fm.FACEMESH_LEFT_EYE), _indices(fm.FACEMESH_RIGHT_EYE))}

    def label_map(self, rgb: np.ndarray) -> Optional[np.ndarray]:
        """(H, W) indices into FACE_REGIONS for the most prominent face, or None when no face is found."""
        h, w = rgb.shape[:2]
        s = max(1.0, self.min_side / min(h, w))
        big = cv2.resize(rgb, (round(w * s), round(h * s)), interpolation=cv2.INTER_CUBIC) if s > 1 else rgb
        big = np.ascontiguousarray(big, dtype=np.uint8)
        with _quiet():
            res = self._mesh.process(big)
        if not res.multi_face_landmarks:
            return None
        pts = np.array([(p.x * w, p.y * h) for p in res.multi_face_landmarks[0].landmark], np.float32)
        out = np.zeros((h, w), np.int32)
        with _quiet():
            seg = self._seg.process(big).segmentation_mask
        if seg is not None:
            person = cv2.resize(np.asarray(seg, np.float32), (w, h), interpolation=cv2.INTER_LINEAR) > 0.5
            out[person] = FACE_REGIONS.index("hair/person")

        def fill(idx: list[int], region: str) -> None:
            hull = cv2.convexHull(np.round(pts[idx]).astype(np.int32))
            cv2.fillConvexPoly(out, hull, FACE_REGIONS.index(region))

        for region, idx in self._parts:
            if idx is None:
                for side in self._pairs[region]:
                    fill(side, region)
            else:
                fill(idx, region)
        return out
