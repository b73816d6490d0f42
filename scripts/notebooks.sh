#!/usr/bin/env bash
# notebooks.sh executes notebooks in place, so that the committed .ipynb files show their tables
# and figures (PNG outputs) on a code host:
#
#   scripts/notebooks.sh [--timeout SECONDS] [NAME...]
#
# NAME is a notebook of notebooks/ (hello, notebooks/hello.ipynb, ...); none: every notebook.
# Each runs in full, with no flags on its %% lines, as `jupyter nbconvert --to notebook --execute
# --inplace` with GoNB (`--raw_error`), the way `go test ./notebooks/` runs them but without its
# shortening flags. A notebook reads back the runs already under runs/ (the same run directories
# as the command lines: go run ./sweep, ./study NAME, ./train) and trains or evaluates only what is
# missing, so executing it on stored runs costs little; without them a notebook costs what its
# study does (notebooks/README.md lists the costs). A notebook is written only when every cell
# succeeds: a failed cell stops the script and leaves that notebook as it was.
#
# --timeout bounds each cell (default 14400 s, the longest study's cell being about 2 h on two
# cores). Needs what the notebook tests need: scripts/install-deps.sh installs it.
#
# Finished runs are read back as they are: framework.Run evaluates them without saving their
# checkpoints again, so the .qzc files and distilled runs that record their SHA-256 stay valid.
set -euo pipefail
export GOTOOLCHAIN=go1.27.3

repo_root="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
readonly repo_root
readonly kernel_name="qzoo-gonb-notebooks"

fail() {
  echo "notebooks: $*" >&2
  exit 1
}

timeout=14400
names=()
while (($#)); do
  case "$1" in
  --timeout)
    [[ $# -ge 2 && "$2" =~ ^[0-9]+$ ]] || fail "--timeout takes a number of seconds"
    timeout="$2"
    shift 2
    ;;
  --timeout=*)
    timeout="${1#--timeout=}"
    [[ "${timeout}" =~ ^[0-9]+$ ]] || fail "--timeout takes a number of seconds"
    shift
    ;;
  -h | --help)
    sed -n '2,/^[^#]/p' "${BASH_SOURCE[0]}" | sed '$d; s/^# \{0,1\}//'
    exit 0
    ;;
  -*) fail "unknown flag $1 (usage: scripts/notebooks.sh [--timeout SECONDS] [NAME...])" ;;
  *)
    names+=("$1")
    shift
    ;;
  esac
done

cd "${repo_root}/notebooks"
notebooks=()
if ((${#names[@]} == 0)); then
  for nb in *.ipynb; do
    [[ "${nb}" == *.nbconvert.ipynb ]] || notebooks+=("${nb}")
  done
else
  for name in "${names[@]}"; do
    nb="$(basename "${name}" .ipynb).ipynb"
    [[ -f "${nb}" ]] || fail "no notebook ${nb} in notebooks/"
    notebooks+=("${nb}")
  done
fi

# jupyter: Debian's first (the first on PATH may belong to a Python without nbconvert).
jupyter=""
for candidate in /usr/bin/jupyter "$(command -v jupyter || true)"; do
  if [[ -n "${candidate}" ]] && "${candidate}" nbconvert --version >/dev/null 2>&1; then
    jupyter="${candidate}"
    break
  fi
done
[[ -n "${jupyter}" ]] || fail "no jupyter with nbconvert found; run scripts/install-deps.sh"

# gonb, goimports and gopls: from go install's directory, else PATH.
bin_dir="$(go env GOBIN)"
[[ -n "${bin_dir}" ]] || bin_dir="$(go env GOPATH | cut -d: -f1)/bin"
find_tool() {
  if [[ -x "${bin_dir}/$1" ]]; then
    echo "${bin_dir}/$1"
  elif command -v "$1" >/dev/null; then
    command -v "$1"
  else
    fail "$1 not found in ${bin_dir} nor on PATH; run scripts/install-deps.sh"
  fi
}
gonb="$(find_tool gonb)"
goimports="$(find_tool goimports)"
gopls="$(find_tool gopls)"

# A private kernel spec: GoNB with --raw_error (a compile error fails its cell), whatever flags
# the user's own "gonb" kernel was installed with. The notebooks keep declaring kernel "gonb".
jupyter_path="$(mktemp -d)"
trap 'rm -rf "${jupyter_path}"' EXIT
mkdir -p "${jupyter_path}/kernels/${kernel_name}"
cat >"${jupyter_path}/kernels/${kernel_name}/kernel.json" <<EOF
{"argv": ["${gonb}", "--kernel", "{connection_file}", "--raw_error"],
 "display_name": "Go (gonb)", "language": "go", "interrupt_mode": "message"}
EOF
export JUPYTER_PATH="${jupyter_path}${JUPYTER_PATH:+:${JUPYTER_PATH}}"
export PATH="$(dirname "${goimports}"):$(dirname "${gopls}"):${PATH}"

for nb in "${notebooks[@]}"; do
  echo "notebooks: executing ${nb} ..."
  start=${SECONDS}
  # nbconvert's and GoNB's logs go to a file, shown when a cell fails. record_timing=False: no
  # execution timestamps in the cells' metadata (diffs show outputs only).
  log="${jupyter_path}/${nb%.ipynb}.log"
  if ! "${jupyter}" nbconvert --to notebook --execute --inplace \
    --ExecutePreprocessor.timeout="${timeout}" \
    --ExecutePreprocessor.kernel_name="${kernel_name}" \
    --ExecutePreprocessor.record_timing=False \
    "${nb}" >"${log}" 2>&1; then
    tail -n 60 "${log}" >&2
    fail "${nb} failed after $((SECONDS - start)) s and was left as it was; the end of its log is above"
  fi
  size="$(stat -c %s "${nb}")"
  pngs="$(grep -c '"image/png"' "${nb}" || true)"
  echo "notebooks: ${nb} executed in $((SECONDS - start)) s: ${size} bytes, ${pngs} PNG figure(s)"
done
