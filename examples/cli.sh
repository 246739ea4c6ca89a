#!/usr/bin/env bash
# The command line on the bundled pair: align onto the reference grid, keep the fit as JSON,
# trim the border artefacts, write a comparison figure. Run: bash examples/cli.sh [OUTPUT_DIR]
set -euo pipefail
out="${1:-.}"
pair=$(python -c "from xr_coregix.data import example_paths; print(*example_paths())")
read -r moving fixed <<< "$pair"
align-image-pair --moving-image "$moving" --fixed-image "$fixed" \
    --output-image "$out/aligned.tif" --no-output-on-moving-grid \
    --trim-edge-invalid --edge-trim-depth 4 \
    --transform-out "$out/fit.json" --plot "$out/compare.png" > "$out/fit_printed.json"
echo "aligned: $out/aligned.tif; fit: $out/fit.json; figure: $out/compare.png"
