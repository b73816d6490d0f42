#!/usr/bin/env bash
# gpu.sh runs the zoo on an NVIDIA GPU through XLA's PJRT CUDA plugin, in one go, within a
# time budget: a first generation (does the plugin load?), one language-model training at a
# size that fills the chip (steps/s, tokens/s, MFU: go run ./bench mfu), data parallelism
# through framework.Run (data_parallel=all against data_parallel=1), then `bench llama`
# (training against PyTorch on the CPU with the CPU backends; generation) and `bench vqae`
# with the XLA backend first.
#
# Usage:
#   scripts/gpu.sh [--out DIR] [--budget SECONDS]             build here (needs Go and cgo), then run
#   scripts/gpu.sh --prebuilt DIR [--out DIR] [--budget S]    use DIR/bin/{train,bench,generate} or DIR/bin.tar.xz,
#                                                             and DIR/data (see --pack) when present
#   scripts/gpu.sh --pack DIR [--data DIR]                    on a CPU machine: build the binaries into DIR/bin.tar.xz
#                                                             and copy the data the runs read into DIR/data, then stop
#   scripts/gpu.sh --check [...]                              build (or take --prebuilt), find the plugin and the GPU, stop
#
# A GPU machine without Go takes binaries built elsewhere (Linux x86-64, same as here):
#   GOTOOLCHAIN=go1.27.3 scripts/gpu.sh --pack .gpu     # here; .gpu is ignored by git (about 50 MB)
#   scripts/gpu.sh --prebuilt .gpu                      # there, from the repository root
# (With the device tool: carry [".gpu"], command "scripts/gpu.sh --prebuilt .gpu", timeout_s 600.)
# GOEXPERIMENT=simd in the environment of the build gives the pure-Go backend its SIMD kernels.
#
# The plugin: $QZOO_PJRT_PLUGIN if set; else xla_cuda_plugin.so of JAX's jax-cuda13-pjrt or
# jax-cuda12-pjrt wheel, looked for in the site-packages of $QZOO_PYTHON (default python3) and in
# /opt/*/.venv, /usr/local/lib/python3*/dist-packages, /usr/lib/python3/dist-packages. It is
# given to GoMLX by absolute path (GOMLX_BACKEND=xla:/abs/xla_cuda_plugin.so): the plugin finds
# NVIDIA's libraries from its own directory ($ORIGIN/../nvidia), which a symlink under
# go-xla's name pjrt_c_api_cuda_plugin.so elsewhere would break; the nvidia/*/lib directories
# beside it are put on LD_LIBRARY_PATH too. Without a plugin (or without a GPU) the script
# says so and exits with status 2 before running anything.
#
# Output, in --out (default $OUT when set, else a new temporary directory): gpu-summary.json
# (the card, the plugin, each step's status and time, the bench reports), gpu.log (every
# step's output in order) and gpu-logs.tar.gz (each step's log, report and run files). Runs
# themselves (checkpoints of about 1 GB) stay in a temporary directory that is removed.
# The default budget, 450 s, keeps the whole script well inside 9 minutes: each step has a
# limit of its own and the steps after the budget is spent are skipped, and recorded as such.
set -euo pipefail

usage() { sed -n '2,/^set -euo/p' "$0" | sed '$d; s/^# \{0,1\}//' >&2; }

root="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
out="${OUT:-}"
prebuilt=""
pack=""
data_src=""
budget=450
check=0
while (($#)); do
  case "$1" in
  --out) out="$2"; shift 2 ;;
  --prebuilt) prebuilt="$2"; shift 2 ;;
  --pack) pack="$2"; shift 2 ;;
  --data) data_src="$2"; shift 2 ;;
  --budget) budget="$2"; shift 2 ;;
  --check) check=1; shift ;;
  -h | --help) usage; exit 0 ;;
  *) echo "gpu.sh: unknown argument $1 (see --help)" >&2; exit 64 ;;
  esac
done
[[ "${budget}" =~ ^[0-9]+$ ]] || { echo "gpu.sh: --budget ${budget}: want whole seconds" >&2; exit 64; }

started=$(date +%s)
deadline=$((started + budget))
work="$(mktemp -d "${TMPDIR:-/tmp}/qzoo-gpu.XXXXXX")"
trap 'rm -rf "${work}"' EXIT
mkdir -p "${work}/logs" "${work}/reports" "${work}/runs"

say() { echo "gpu.sh: $*" | tee -a "${work}/gpu.log" >&2; }
# fail says why the script stops, and writes the output as it stands (not with --pack).
fail() {
  say "$*"
  [[ -n "${pack}" ]] && exit 1
  finish "failed: $*" 1
}
plugin=""
card=""
bin="${work}/bin"
data_dir="${QZOO_DATA_DIR:-${root}/../shared/data}"
steps_json=()

summary="${work}/gpu-summary.json"
json_str() { printf '"%s"' "$(printf '%s' "$1" | sed 's/\\/\\\\/g; s/"/\\"/g' | tr '\n\t' '  ')"; }
write_summary() { # status
  local reports="" f
  for f in "${work}"/reports/*.json; do
    [[ -s "${f}" ]] || continue
    reports+="${reports:+, }$(json_str "$(basename "${f}" .json)"): $(cat "${f}")"
  done
  {
    printf '{\n  "status": %s,\n  "time": %s,\n  "budget_seconds": %s,\n  "seconds": %s,\n' \
      "$(json_str "$1")" "$(json_str "$(date -u +%Y-%m-%dT%H:%M:%SZ)")" "${budget}" "$(($(date +%s) - started))"
    printf '  "card": %s,\n  "driver": %s,\n  "gpu_memory": %s,\n' "$(json_str "${card:-}")" "$(json_str "${driver:-}")" "$(json_str "${gpu_memory:-}")"
    printf '  "plugin": %s,\n  "binaries": %s,\n  "data_dir": %s,\n' "$(json_str "${plugin}")" "$(json_str "${bin}")" "$(json_str "${data_dir}")"
    printf '  "steps": [%s],\n' "$(IFS=,; echo "${steps_json[*]:-}")"
    printf '  "reports": {%s}\n}\n' "${reports}"
  } >"${summary}"
}
finish() { # status exit-code
  write_summary "$1"
  if [[ -z "${out}" ]]; then
    out="$(mktemp -d "${TMPDIR:-/tmp}/qzoo-gpu-out.XXXXXX")"
  fi
  mkdir -p "${out}"
  cp "${summary}" "${work}/gpu.log" "${out}/"
  tar -C "${work}" -czf "${out}/gpu-logs.tar.gz" logs reports $(cd "${work}" && ls -d runs/*/ 2>/dev/null | sed 's,/$,,' | while read -r r; do ls "${r}"/config.json "${r}"/metrics.jsonl "${r}"/eval.json 2>/dev/null; done)
  say "wrote ${out}/gpu-summary.json, gpu.log, gpu-logs.tar.gz ($1, $(($(date +%s) - started)) s)"
  exit "$2"
}

binaries=(train bench generate)

# build DIR: the three commands with cgo and the XLA backend compiled in (framework/backend_xla.go:
# linux/amd64, cgo, not -tags noxla).
build() {
  local dest="$1"
  command -v go >/dev/null || fail "go not found: build elsewhere with --pack and run with --prebuilt"
  export GOTOOLCHAIN="${GOTOOLCHAIN:-go1.27.3}"
  [[ "$(cd "${root}" && go env GOOS GOARCH)" == $'linux\namd64' ]] ||
    fail "the XLA backend is built for linux/amd64 here; go env says $(cd "${root}" && go env GOOS GOARCH | tr '\n' ' ')"
  mkdir -p "${dest}"
  say "building ${binaries[*]} (CGO_ENABLED=1, GOEXPERIMENT=${GOEXPERIMENT:-none}) into ${dest}"
  for b in "${binaries[@]}"; do
    (cd "${root}" && CGO_ENABLED=1 go build -trimpath -ldflags="-s -w" -o "${dest}/${b}" "./${b}") ||
      fail "building ./${b} failed"
  done
  # Is XLA in? (Not through a pipe into grep -q: under pipefail, go list's SIGPIPE would fail it.)
  local deps
  deps="$(cd "${root}" && CGO_ENABLED=1 go list -f '{{join .Deps "\n"}}' ./train)" || fail "go list ./train failed"
  grep -qx 'github.com/gomlx/go-xla/compute/xla' <<<"${deps}" ||
    fail "./train was built without the XLA backend (cgo off or -tags noxla?)"
}

if [[ -n "${pack}" ]]; then
  mkdir -p "${pack}/data"
  build "${work}/bin"
  command -v xz >/dev/null || fail "xz not found (Debian: apt-get install xz-utils)"
  say "compressing the binaries into ${pack}/bin.tar.xz"
  tar -C "${work}" -cf - bin | xz -9 -T1 >"${pack}/bin.tar.xz.tmp" || fail "compressing the binaries failed"
  mv "${pack}/bin.tar.xz.tmp" "${pack}/bin.tar.xz"
  src="${data_src:-${QZOO_DATA_DIR:-${root}/../shared/data}}"
  for f in weights/stories260K.bin weights/tok512.bin text/tinyshakespeare.txt; do
    [[ -f "${src}/${f}" ]] || fail "${src}/${f} not found: give the data directory with --data"
    mkdir -p "${pack}/data/$(dirname "${f}")"
    cp "${src}/${f}" "${pack}/data/${f}"
  done
  fashion=/usr/share/datasets/fashion-mnist
  if [[ -d "${fashion}" ]]; then
    mkdir -p "${pack}/data/fashion-mnist"
    cp "${fashion}"/*-ubyte.gz "${pack}/data/fashion-mnist/"
  else
    say "no Fashion-MNIST in ${fashion} (apt-get install dataset-fashion-mnist): bench vqae will be skipped there"
  fi
  say "packed $(du -sh "${pack}" | cut -f1) in ${pack}: run scripts/gpu.sh --prebuilt ${pack} on the GPU machine"
  exit 0
fi

# The binaries.
if [[ -n "${prebuilt}" ]]; then
  [[ -d "${prebuilt}" ]] || fail "--prebuilt ${prebuilt}: no such directory (make it with --pack)"
  if [[ -f "${prebuilt}/bin.tar.xz" ]]; then
    say "unpacking ${prebuilt}/bin.tar.xz"
    if ! tar -C "${work}" -xJf "${prebuilt}/bin.tar.xz" 2>/dev/null; then
      python3 -c 'import sys, tarfile; tarfile.open(sys.argv[1]).extractall(sys.argv[2])' "${prebuilt}/bin.tar.xz" "${work}" ||
        fail "cannot unpack ${prebuilt}/bin.tar.xz (no xz, and python3's tarfile failed)"
    fi
  else
    bin="$(cd "${prebuilt}" && pwd)/bin"
  fi
  for b in "${binaries[@]}"; do
    [[ -x "${bin}/${b}" ]] || fail "--prebuilt ${prebuilt}: no executable ${bin}/${b} (make it with --pack)"
  done
  if [[ -d "${prebuilt}/data" ]]; then
    export QZOO_DATA_DIR
    QZOO_DATA_DIR="$(cd "${prebuilt}/data" && pwd)"
  fi
else
  build "${bin}"
fi
data_dir="${QZOO_DATA_DIR:-${root}/../shared/data}"
fashion_dir="${data_dir}/fashion-mnist"
[[ -d "${fashion_dir}" ]] || fashion_dir=/usr/share/datasets/fashion-mnist

# The plugin.
python="${QZOO_PYTHON:-python3}"
site_dirs() {
  if command -v "${python}" >/dev/null 2>&1; then
    "${python}" -c 'import site; print("\n".join(site.getsitepackages() + [site.getusersitepackages()]))' 2>/dev/null || true
  fi
  compgen -G '/opt/*/.venv/lib/python3*/site-packages' || true
  compgen -G '/usr/local/lib/python3*/dist-packages' || true
  echo /usr/lib/python3/dist-packages
}
plugin_note=""
if [[ -n "${QZOO_PJRT_PLUGIN:-}" ]]; then
  if [[ -f "${QZOO_PJRT_PLUGIN}" ]]; then
    plugin="$(cd "$(dirname "${QZOO_PJRT_PLUGIN}")" && pwd)/$(basename "${QZOO_PJRT_PLUGIN}")"
  else
    plugin_note="QZOO_PJRT_PLUGIN=${QZOO_PJRT_PLUGIN} is not a file; "
  fi
fi
searched=()
if [[ -z "${plugin}" ]]; then
  while IFS= read -r dir; do
    [[ -n "${dir}" && -d "${dir}" ]] || continue
    searched+=("${dir}")
    for wheel in xla_cuda13 xla_cuda12; do
      if [[ -f "${dir}/jax_plugins/${wheel}/xla_cuda_plugin.so" ]]; then
        plugin="${dir}/jax_plugins/${wheel}/xla_cuda_plugin.so"
        break 2
      fi
    done
  done < <(site_dirs | awk '!seen[$0]++')
fi

if [[ -z "${plugin}" ]]; then
  say "no PJRT CUDA plugin found: ${plugin_note}no xla_cuda_plugin.so (JAX's jax-cuda13-pjrt or jax-cuda12-pjrt wheel) under jax_plugins/ in ${searched[*]:-(no site-packages found)}; set QZOO_PJRT_PLUGIN=/abs/path/xla_cuda_plugin.so. Nothing was run on a GPU."
  finish no_plugin 2
fi
say "PJRT plugin: ${plugin}"
if ! command -v nvidia-smi >/dev/null; then
  say "no GPU: nvidia-smi not found. Nothing was run on a GPU."
  finish no_gpu 2
fi
IFS=, read -r card gpu_memory driver < <(nvidia-smi --query-gpu=name,memory.total,driver_version --format=csv,noheader | head -1) || true
card="$(echo "${card:-}" | xargs)"
gpu_memory="$(echo "${gpu_memory:-}" | xargs)"
driver="$(echo "${driver:-}" | xargs)"
[[ -n "${card}" ]] || {
  say "no GPU: nvidia-smi lists none"
  finish no_gpu 2
}
say "card: ${card}, ${gpu_memory}, driver ${driver}"
nvidia-smi >"${work}/logs/nvidia-smi.log" 2>&1 || true

# NVIDIA's libraries beside the plugin (the wheels' nvidia/<lib>/lib or nvidia/cu13/lib).
site="$(dirname "$(dirname "$(dirname "${plugin}")")")"
if [[ -d "${site}/nvidia" ]]; then
  libs="$(find "${site}/nvidia" -maxdepth 3 -type d -name lib | sort | paste -sd: -)"
  export LD_LIBRARY_PATH="${libs}${LD_LIBRARY_PATH:+:${LD_LIBRARY_PATH}}"
  say "LD_LIBRARY_PATH: the $(echo "${libs}" | tr ':' '\n' | grep -c .) nvidia/*/lib directories of ${site}"
fi
# XLA compiles its kernels with CUDA's libdevice: the wheels' copy when there is one (else XLA
# looks in /usr/local/cuda itself).
libdevice="$(compgen -G "${site}/nvidia/*/nvvm/libdevice" | head -1 || true)"
if [[ -n "${libdevice}" && "${XLA_FLAGS:-}" != *xla_gpu_cuda_data_dir* ]]; then
  export XLA_FLAGS="${XLA_FLAGS:+${XLA_FLAGS} }--xla_gpu_cuda_data_dir=$(dirname "$(dirname "${libdevice}")")"
  say "XLA_FLAGS=${XLA_FLAGS}"
fi
export GOMLX_NO_AUTO_INSTALL=1
xla="xla:${plugin}"
cpu_backends="go"
onnx_lib="$(find "${site}/onnxruntime" -maxdepth 3 -name 'libonnxruntime.so*' 2>/dev/null | head -1 || true)"
[[ -n "${onnx_lib}" ]] && cpu_backends+=",onnx:${onnx_lib}"
peer=(--python "${python}")
if ! "${python}" -c 'import torch' >/dev/null 2>&1; then
  say "${python} has no torch: the benches run without their PyTorch peer"
  peer=(--no_torch)
fi

if ((check)); then
  say "--check: binaries in ${bin}, plugin ${plugin}, card ${card}; CPU backends ${cpu_backends}; nothing run"
  finish checked 0
fi

# step NAME LIMIT COMMAND...: runs COMMAND (in the repository root, so that the commands find
# configs/) under min(LIMIT, what is left of the budget), logs it and records its status.
step() {
  local name="$1" limit="$2" left rc=0 begun status
  shift 2
  left=$((deadline - $(date +%s)))
  if ((left < 15)); then
    say "${name}: skipped, the budget of ${budget} s is spent"
    steps_json+=("{\"name\": $(json_str "${name}"), \"status\": \"skipped\", \"seconds\": 0}")
    return 1
  fi
  ((limit < left)) || limit=${left}
  say "${name} (limit ${limit} s): $*"
  begun=$(date +%s)
  (cd "${root}" && timeout --kill-after=10 "${limit}" "$@") >"${work}/logs/${name}.log" 2>&1 || rc=$?
  cat "${work}/logs/${name}.log" >>"${work}/gpu.log"
  case "${rc}" in
  0) status=ok ;;
  124 | 137) status=timeout ;;
  *) status=failed ;;
  esac
  # The train command exits 1 when a config's "expect" does not hold, which a short speed run's
  # need not: the run itself finished.
  if ((rc == 1)) && grep -q 'expectations not met' "${work}/logs/${name}.log"; then
    status=ok_expect_not_met
    rc=0
  fi
  say "${name}: ${status} (exit ${rc}) after $(($(date +%s) - begun)) s"
  steps_json+=("{\"name\": $(json_str "${name}"), \"status\": \"${status}\", \"exit\": ${rc}, \"seconds\": $(($(date +%s) - begun)), \"command\": $(json_str "$*")}")
  return "${rc}"
}

# run_report NAME: the last logged training step and the final evaluation of runs/NAME, as
# reports NAME_last_step and NAME_eval of the summary.
run_report() {
  local dir="${work}/runs/$1"
  if [[ -s "${dir}/metrics.jsonl" ]]; then
    grep '"loss"' "${dir}/metrics.jsonl" | tail -1 >"${work}/reports/$1_last_step.json" || true
  fi
  if [[ -s "${dir}/eval.json" ]]; then
    cp "${dir}/eval.json" "${work}/reports/$1_eval.json" || true
  fi
}

# 1. Does the plugin load and run? A short greedy generation from stories260K.
if ! step probe 60 env GOMLX_BACKEND="${xla}" "${bin}/generate" --checkpoint "${data_dir}/weights/stories260K.bin" \
  --max_tokens 32 --temperature 0 --data_dir "${data_dir}"; then
  say "the XLA CUDA backend did not run (see ${out:-the output}/gpu.log): nothing more is tried"
  finish xla_failed 1
fi

# 2. A Llama of the scaling family (configs/scaling/family_2m53.json) widened to fill the chip:
#    d 1024, SwiGLU 2816, 8 blocks, 16 heads over 8 key/value heads (95 M parameters), batch
#    128 × 256 tokens; steps timed from metrics.jsonl (bench mfu).
mfu_set="llama_dim=1024;llama_hidden_dim=2816;llama_layers=8;llama_heads=16;llama_kv_heads=8;batch_size=128;steps=40"
mfu_set+=";log_every=5;warmup_steps=5;eval_every=0;checkpoint_every=0;keep_checkpoints=1;eval_examples=64;eval_batch_size=32"
mfu_set+=";text_file=text/tinyshakespeare.txt"
if step mfu_train 180 env GOMLX_BACKEND="${xla}" "${bin}/train" --config configs/scaling/family_2m53.json --set "${mfu_set}" \
  --checkpoint "${work}/runs/mfu" --data_dir "${data_dir}" --quiet; then
  step mfu 20 "${bin}/bench" mfu --run "${work}/runs/mfu" --card "${card}" --json "${work}/reports/mfu.json" || true
fi
run_report mfu

# 3. Data parallelism through framework.Run: every device ("all"; one device still takes the
#    distributed path) against one device, same batches: the losses must agree to rounding.
dp_set="steps=20;log_every=5;eval_examples=32;checkpoint_every=0;eval_every=0"
for dp in 1 all; do
  step "data_parallel_${dp}" 45 env GOMLX_BACKEND="${xla}" "${bin}/train" --config configs/llm/full_finetune.json \
    --set "${dp_set};data_parallel=${dp}" --checkpoint "${work}/runs/data_parallel_${dp}" --data_dir "${data_dir}" --quiet || true
  run_report "data_parallel_${dp}"
done

# 4. bench llama: training on XLA, the CPU backends and PyTorch (CPU) in one run; generation on
#    XLA against PyTorch (whose greedy tokens must match XLA's; without the peer if they do not).
step bench_llama_train 100 "${bin}/bench" llama --tasks train --backends "${xla},${cpu_backends}" "${peer[@]}" \
  --data_dir "${data_dir}" --json "${work}/reports/bench_llama_train.json" || true
step bench_llama_generate 50 "${bin}/bench" llama --tasks generate --backends "${xla}" "${peer[@]}" \
  --data_dir "${data_dir}" --json "${work}/reports/bench_llama_generate.json" ||
  step bench_llama_generate_alone 40 "${bin}/bench" llama --tasks generate --backends "${xla}" --no_torch \
    --data_dir "${data_dir}" --json "${work}/reports/bench_llama_generate.json" || true

# 5. bench vqae: the VQ autoencoder's train step on XLA, the CPU backends and PyTorch (CPU).
if [[ -d "${fashion_dir}" ]]; then
  step bench_vqae 75 "${bin}/bench" vqae --backends "${xla},${cpu_backends}" "${peer[@]}" --data_dir "${fashion_dir}" \
    --json "${work}/reports/bench_vqae.json" || true
else
  say "bench_vqae: skipped, no Fashion-MNIST in ${fashion_dir}"
fi

failed=$(printf '%s\n' "${steps_json[@]}" | grep -c '"status": "\(failed\|timeout\)"' || true)
if ((failed > 0)); then
  finish "ran, ${failed} step(s) failed" 1
fi
finish ok 0
