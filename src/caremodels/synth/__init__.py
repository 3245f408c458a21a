"""Synthetic health economy generator: England-like populations and their hospital, ambulance,
outpatient, care-home and prescribing activity, with known, planted care-model effects.

Boundaries: ``generate(config, out_dir)`` reads only the package's reference data and writes one file
per table of the canonical schema (Parquet or CSV), ``truth.json`` (the effects applied, the
non-causal factors, and the events realised with and without the effects), the unregistered
population estimate, ``manifest.json`` and, when asked, a FHIR R4 NDJSON export. The same
configuration gives byte-identical files.
"""

from caremodels.synth.config import (
    COHORTS,
    MEASURES,
    Effect,
    EffectsFile,
    EffectTarget,
    NonCausalFactor,
    SynthConfig,
    default_effects_path,
    load_effects,
)
from caremodels.synth.generate import SynthResult, generate
from caremodels.synth.nhs_number import is_valid_nhs_number

__all__ = [
    "COHORTS",
    "MEASURES",
    "Effect",
    "EffectTarget",
    "EffectsFile",
    "NonCausalFactor",
    "SynthConfig",
    "SynthResult",
    "default_effects_path",
    "generate",
    "is_valid_nhs_number",
    "load_effects",
]
