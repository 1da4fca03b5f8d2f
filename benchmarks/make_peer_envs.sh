#!/usr/bin/env bash
# Creates the peer environments benchmarks/model_speed.py compares against, in benchmarks/.envs/:
#   mindcv030: MindSpore 2.7.0 + MindCV 0.3.0 from PyPI (its package is also named "mindcv")
#   timm:      PyTorch 2.14.1 + torchvision 0.29.1 + timm (several GB; skip with --no-timm)
set -euo pipefail
cd "$(dirname "$0")"
mkdir -p .envs
if [ ! -x .envs/mindcv030/bin/python ]; then
  python3 -m venv .envs/mindcv030
  .envs/mindcv030/bin/pip install -q mindspore==2.7.0 mindcv==0.3.0
fi
if [ "${1:-}" != "--no-timm" ] && [ ! -x .envs/timm/bin/python ]; then
  python3 -m venv .envs/timm
  .envs/timm/bin/pip install -q torch==2.14.1 torchvision==0.29.1 timm
fi
echo "peer environments ready in $(pwd)/.envs"
