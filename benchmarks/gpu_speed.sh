#!/usr/bin/env bash
# The GPU's speed rows in one call of a lent GPU machine (issue: pruning that pays in seconds).
# Prepare here: `make gpu-wheels` (the packages the machine's image lacks, into .whl/). Then, with
# the device tool, from the repository root:
#     run(command="bash benchmarks/gpu_speed.sh", carry=[".whl"], timeout_s=540)
# It times every lever of benchmarks/speed_levers.py on the GPU (batches 1, 64 and 512, the last to
# fill it; fp16, cuDNN's algorithm search and torch.compile with CUDA graphs beside the CPU's levers),
# profiles the operators' CUDA time, and leaves the record in $OUT. Bring it in with
#     cp <files_at>/speed_levers_cuda.json data/results/ && git add data/results/speed_levers_cuda.json
# RQ3's "Where the gap comes from" then shows the GPU's table beside the CPU's, naming the GPU.
set -euo pipefail
out=${OUT:?OUT: the folder whose files come back}
if compgen -G ".whl/*.whl" > /dev/null; then
  python3 -m pip install -q --no-index --no-deps --no-compile --no-cache-dir --upgrade --target /tmp/site .whl/*.whl
  export PYTHONPATH=/tmp/site
fi
export PYTHONPATH=${PYTHONPATH:+$PYTHONPATH:}$PWD PYTHONUNBUFFERED=1
nvidia-smi -L | tee "$out/device.txt"
python3 -c "import torch; print('torch', torch.__version__, torch.cuda.get_device_name(0))" | tee -a "$out/device.txt"
# the architectures' random weights and the magnitude prunes are computed there (no data needed)
DIFFPRUNE_STUDY=/tmp/study python3 benchmarks/speed_levers.py --device cuda --repeats 15 2>&1 | tee "$out/speed_levers.log"
cp data/results/speed_levers_cuda.json "$out/"
