#!/usr/bin/env bash
# Download, for CPython 3.12 on manylinux x86_64, the wheels a bare GPU machine lacks to run this project and
# tools/gpu_check.py, into .whl/gpu (git-ignored: .gitignore has .whl/), small enough to travel with the
# working tree (the device tool carries at most 64 MiB in all). tools/gpu_setup.sh installs them there.
#
#   bash tools/gpu_wheels.sh            # here, where PyPI is reachable
#
# The list is what perception[train] needs (pyproject.toml) minus what the GPU machine's image already holds
# (/work/.library/device/KINDS.md: torch 2.11, torchvision, numpy, scipy, opencv-python-headless, onnx,
# onnxruntime (CPU only), matplotlib, tensorboard, pyyaml, tqdm, sympy, ml-dtypes, colorama, packaging), plus
# those packages' own needs that the image lacks. Every wheel is fetched with --no-deps so pip never pulls a
# second torch or numpy; each dependency the image lacks is named here instead.
# Not carried: onnxruntime-gpu (~280 MB, so ONNX Runtime there runs on the CPU only) and ray (~70 MB, so
# `infer --ray` is not checked there).
set -euo pipefail
repo="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
dest="$repo/.whl/gpu"
limit_mib="${GPU_WHEELS_LIMIT_MIB:-50}"
python="${PYTHON:-python3}"

wheels=(
  # perception[train] packages missing there
  "albumentations==2.0.8"
  "pycocotools==2.0.11"
  "onnxslim==0.1.98"
  # perception's base install: H.264 encoding of infer's annotated video (bundles FFmpeg)
  "av==19.0.2"
  # albumentations' needs that the image lacks
  "albucore==0.0.24"
  "pydantic==2.14.4"
  "pydantic-core==2.50.5"
  "annotated-types==0.7.0"
  "typing-inspection==0.4.4"
  "typing-extensions==4.16.0"  # pydantic 2.14 needs >= 4.16; the image's may be older
  "stringzilla==4.6.0"
  "simsimd==6.5.3"
)

rm -rf "$dest"
mkdir -p "$dest"
"$python" -m pip download --quiet --no-deps --only-binary=:all: --python-version 3.12 --implementation cp \
  --platform manylinux_2_28_x86_64 --platform manylinux_2_27_x86_64 --platform manylinux_2_17_x86_64 \
  --platform manylinux2014_x86_64 --platform manylinux1_x86_64 -d "$dest" "${wheels[@]}"

ls -l "$dest" | awk 'NR > 1 {printf "%10.2f MiB  %s\n", $5 / 1048576, $9}'
total=$(du -cb "$dest"/*.whl | tail -1 | cut -f1)
printf 'total: %.2f MiB in %d wheels (%s)\n' "$(echo "$total / 1048576" | bc -l)" "$(ls "$dest"/*.whl | wc -l)" "$dest"
if (( total > limit_mib * 1048576 )); then
  echo "gpu_wheels: $((total / 1048576)) MiB is over the ${limit_mib} MiB that may travel with the tree" >&2
  exit 1
fi
