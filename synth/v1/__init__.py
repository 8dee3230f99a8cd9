"""Generated from protos/synth/v1 by scripts/gen_protos.py. Do not edit."""
