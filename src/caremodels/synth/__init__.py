"""Synthetic health economy generator: England-like populations and hospital activity with known,
planted care-model effects.

Boundaries: ``generate(config, out_dir)`` reads only the package's reference data, writes one file
per table (Parquet or CSV), ``truth.json`` (the effects applied and the events realised with and
without them) and ``manifest.json``. The same configuration gives byte-identical files.
"""

from caremodels.synth.config import (
    Effect,
    EffectsFile,
    EffectTarget,
    SynthConfig,
    default_effects_path,
    load_effects,
)
from caremodels.synth.generate import SynthResult, generate
from caremodels.synth.nhs_number import is_valid_nhs_number

__all__ = [
    "Effect",
    "EffectTarget",
    "EffectsFile",
    "SynthConfig",
    "SynthResult",
    "default_effects_path",
    "generate",
    "is_valid_nhs_number",
    "load_effects",
]
