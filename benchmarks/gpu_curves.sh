#!/usr/bin/env bash
# A teacher's learning curve, continued on a lent GPU in one call (issue: teachers trained until they
# stop improving). Why a GPU: a curve's next length is one uninterrupted run (it resumes only from a
# checkpoint on the same disk), and past ~10,000 steps that run outlasts a session of the study's CPU
# machine. On a GPU the lengths before the one asked for need not be trained first: a length's key
# does not depend on the run it resumed from, so '[13333]' trains 13,333 steps from scratch.
# Its limit today: the study's training loop ran 0.07-0.22 s a step on an H100 (median 0.15: the
# recorded CUDA finetunes of Fashion-MNIST models; for a 1 M-parameter model that is the loop's
# overhead rather than its arithmetic, not yet profiled), so 13,333 steps take 15-50 minutes: more
# than one call (10 minutes) or a session's device time (15 minutes). A run resumes across calls on
# a warm machine from its checkpoint (ignored files stay there between calls); to fit one session it
# needs a faster CUDA training step (issue: pruning that pays in seconds, training levers).
# Prepare here: `make gpu-wheels` (the packages the machine's image lacks, into .whl/) and
# `make gpu-data` (Fashion-MNIST's idx files into data/fashion-mnist/: the machine cannot install
# them). OpenMoji's drawing package (75 MB) is more than a call carries, so its curve stays on CPUs.
# Then, with the device tool, from the repository root:
#     run(command="bash benchmarks/gpu_curves.sh fashion-mnist '[13333]'",
#         carry=[".whl", "data/fashion-mnist"], timeout_s=600)
# It trains the recipe of data/teachers/DATASET (or the profile's teacher) to each length of
# LENGTHS (lengths already recorded are not trained again) in the study cache, samples and measures
# each as the CPU study does, and leaves in $OUT every record (study.tar) and each new run's weights
# without its optimizer checkpoint (runs.tar: what `adopt` needs). Bring them in with
#     mkdir -p /tmp/gpu && tar -xf FILES_AT/study.tar -C /tmp/gpu && tar -xf FILES_AT/runs.tar -C data/study
#     .venv/bin/python -m diffprune study --pack --from /tmp/gpu/study
# then add the lengths to the cpu profile's teacher_curve_steps (the records name the GPU).
# PROFILE (default cpu) and DIFFPRUNE_STUDY (default data/study) are for a trial run on a CPU.
set -euo pipefail
usage="usage: gpu_curves.sh DATASET LENGTHS (a YAML list, e.g. '[13333, 17778]')"
dataset=${1:?$usage}
lengths=${2:?$usage}
out=${OUT:?OUT: the folder whose files come back}
cache=${DIFFPRUNE_STUDY:-data/study}
if compgen -G ".whl/*.whl" > /dev/null; then
  python3 -m pip install -q --no-index --no-deps --no-compile --no-cache-dir --upgrade --target /tmp/site .whl/*.whl
  export PYTHONPATH=/tmp/site
fi
export PYTHONPATH=${PYTHONPATH:+$PYTHONPATH:}$PWD PYTHONUNBUFFERED=1
{ nvidia-smi -L 2>/dev/null || echo "no GPU: $(uname -m)"; } | tee "$out/device.txt"
teacher=()
[ -d "data/teachers/$dataset" ] && teacher=(-p teacher "data/teachers/$dataset")
# this recipe's curve alone: the profile's other teachers stay out. SIGTERM after BUDGET_S seconds
# (default 480, inside a 600 s call) stops the run at the end of its step with a checkpoint, and
# the records so far still come back: the next call on the warm machine resumes it.
timeout --signal=TERM "${BUDGET_S:-480}" \
  python3 -m diffprune study --profile "${PROFILE:-cpu}" --chapter teachers --yes "${teacher[@]}" \
  -p dataset "$dataset" -p more_teachers '[]' -p teacher_curve_steps "{$dataset: $lengths}" \
  2>&1 | tee "$out/study.log" || echo "stopped before the end (exit $?): call again to resume"
python3 -m diffprune study --pack  # a stopped run leaves its finished steps' records loose
(cd "$cache/.." && tar -cf "$out/study.tar" "$(basename "$cache")"/*/records.jsonl)
runs=()
for d in "$cache"/training_run/*/; do
  [ -d "$d/unet" ] && runs+=("training_run/$(basename "$d")")
done
if [ ${#runs[@]} -gt 0 ]; then
  tar -cf "$out/runs.tar" -C "$cache" --exclude checkpoint "${runs[@]}"
fi
echo "runs with weights: ${runs[*]:-none}"
