"""A faithful stand-in for Meta's `sam_audio` (github.com/facebookresearch/sam-audio), for tests only.

Upstream cannot be installed here (it needs torchaudio). This package has upstream's module paths, class names,
config keywords, method signatures, tensor shapes and 48 kHz rate for everything ap-sam-torch touches, built from
tiny real torch modules. It is written from upstream's API, not copied from its code.
"""

from sam_audio.model import SAMAudio
from sam_audio.processor import Batch, SAMAudioProcessor

__all__ = ["Batch", "SAMAudio", "SAMAudioProcessor"]
