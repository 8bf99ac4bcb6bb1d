#!/bin/sh
# Copyright 2026 depth_node contributors
# SPDX-License-Identifier: Apache-2.0
#
# One-command GPU check of depth_node (see depth_node/offline/gpu_check.py):
#   tools/gpu_check.sh                 # all cases on the GPU (about 8 minutes on an H100/H200)
#   tools/gpu_check.sh --quick         # tiny models, seconds, works on a CPU
#   tools/gpu_check.sh --only anything --modes fp16 --json /tmp/gpu.json
# Needs only this repository and a Python with torch + transformers (+ numpy, pillow):
# the repository's .venv when there is one, else python3. Downloads nothing: the models
# are real-size architectures with random weights.
set -e
here=$(cd "$(dirname "$0")/.." && pwd)
if [ -x "$here/.venv/bin/python" ]; then
    python="$here/.venv/bin/python"
else
    python=$(command -v python3)
fi
export PYTHONPATH="$here${PYTHONPATH:+:$PYTHONPATH}"
export PYTHONUNBUFFERED=1 HF_HUB_OFFLINE=1 TRANSFORMERS_OFFLINE=1
exec "$python" -m depth_node.offline.gpu_check "$@"
