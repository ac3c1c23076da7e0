"""Writes mixin/rules.json: prometheus/rules/*.yml as JSON, for mixin.libsonnet to import. The rule files stay the
one source of truth (tests/test_mixin.py fails when this copy drifts). Why not std.parseYaml on the YAML itself:
Debian's jsonnet (0.18) turns YAML block scalars (`expr: |`) into JSON strings with raw newlines and fails.

    python mixin/generate.py
"""

from __future__ import annotations

import json
import sys
from pathlib import Path

import yaml

ROOT = Path(__file__).resolve().parents[1]
OUT = Path(__file__).parent / "rules.json"


def render() -> str:
    files = {path.name: yaml.safe_load(path.read_text()) for path in sorted((ROOT / "prometheus" / "rules").glob("*.yml"))}
    return json.dumps(files, indent=1, sort_keys=False) + "\n"


def main() -> int:
    OUT.write_text(render())
    print(f"wrote {OUT.relative_to(ROOT)}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
