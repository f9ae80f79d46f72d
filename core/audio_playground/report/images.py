"""Spectrogram levels to a small image (Pillow encodes it), and bytes to data: URLs for the page."""

from __future__ import annotations

import base64
import io

import numpy as np

# A perceptually ordered dark-to-light ramp (anchors of matplotlib's "magma", interpolated): brightness alone
# carries the level, so the image reads in greyscale too.
_ANCHORS = np.array(
    [
        (0, 0, 4),
        (28, 16, 68),
        (79, 18, 123),
        (129, 37, 129),
        (181, 54, 122),
        (229, 80, 100),
        (251, 135, 97),
        (254, 194, 135),
        (252, 253, 191),
    ],
    dtype=np.float32,
)
WEBP_QUALITY = 55


def palette() -> np.ndarray:
    """256 RGB colours, dark (quiet) to light (loud)."""
    positions = np.linspace(0, len(_ANCHORS) - 1, 256)
    channels = [np.interp(positions, np.arange(len(_ANCHORS)), _ANCHORS[:, c]) for c in range(3)]
    return np.round(np.stack(channels, axis=1)).astype(np.uint8)


_PALETTE = palette()


def spectrogram_image(levels: np.ndarray) -> bytes:
    """Encode (rows, columns) levels 0..1 as a lossy WebP image (Chromium, Firefox and Safari show it)."""
    from PIL import Image

    index = np.clip(np.round(levels * 255), 0, 255).astype(np.uint8)
    image = Image.fromarray(_PALETTE[index], mode="RGB")
    buffer = io.BytesIO()
    image.save(buffer, format="WEBP", quality=WEBP_QUALITY, method=4)
    return buffer.getvalue()


def data_url(data: bytes, mime: str) -> str:
    """`data:` URL of `data` (base64)."""
    return f"data:{mime};base64,{base64.b64encode(data).decode('ascii')}"
