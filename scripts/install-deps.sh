#!/usr/bin/env bash
# install-deps.sh installs everything qzoo needs on Debian bookworm (amd64), beyond Go itself:
#
#   - Debian packages: Jupyter (notebook server, nbconvert, kernel client) for the GoNB
#     notebooks, Fashion-MNIST, PyTorch + OpenBLAS + NumPy for side-by-side comparisons,
#     a C toolchain for cgo, ZFP (python3-zfpy, run by /usr/bin/python3) and the reference
#     Zstandard tool for the climate baselines (package baselines), netcdf-bin (ncdump, which the
#     codec tests open decompressed files with), python3-netcdf4 and python3-h5py (netCDF-C and
#     HDF5 through /usr/bin/python3: formats/netcdf's tests write chunked, packed and
#     data-store-layout files with them and compare what they decode), the speech stack of issue 15 (real speech:
#     pocketsphinx-testdata, asterisk-core-sounds-en-wav with asterisk-core-sounds-en for its
#     transcripts, codec2-examples; synthetic voices:
#     espeak-ng, flite, festival + festvox voices; peers: codec2, opus-tools; an independent
#     recognizer: pocketsphinx + pocketsphinx-en-us; sox), fortunes (fortune-mod's English
#     quotations, /usr/share/games/fortunes: part of the scaling study's text corpus),
#     qemu-user-static (models/vaeformer's TestPinsOnOtherArchitectures runs the codec's pinned
#     decoder path as arm64, ppc64le, s390x and riscv64 binaries), and npm (only if no npm is
#     on PATH) for the ONNX Runtime download;
#   - GoNB v0.11.5 (the Go Jupyter kernel) with the tools it calls, goimports (x/tools v0.52.0)
#     and gopls v0.23.0, installed into $(go env GOBIN) or $(go env GOPATH)/bin;
#   - the GoNB kernel registered with Jupyter (`gonb --install --raw_error`), its kernel.json
#     extended so that the kernel finds goimports/gopls and uses GOTOOLCHAIN=go1.27.3 even when
#     Jupyter is started with a PATH that lacks the Go bin directory;
#   - ONNX Runtime's shared library, via scripts/setup-onnxruntime.sh.
#
# Usage: scripts/install-deps.sh   (as root when Debian packages are missing; CI runs it as root)
#
# Idempotent: each step checks first and does nothing when its result is already there, so a
# second run takes about a second. `apt-get update` runs once, and only when a package is missing.
# Requires a Go (1.21 or later) on PATH: GOTOOLCHAIN=go1.27.3 makes it fetch and run the toolchain
# go.mod pins from the Go module proxy (about 10 s, once per machine). These machines set
# GOTOOLCHAIN=local in their go env, so the export is needed; README.md's commands carry it too.
set -euo pipefail
export GOTOOLCHAIN=go1.27.3

readonly gonb_version="v0.11.5"
readonly tools_version="v0.52.0" # golang.org/x/tools, for goimports
readonly gopls_version="v0.23.0" # v0.24 needs Go 1.27
readonly go_version="go1.27.3"

readonly debian_packages=(
  ca-certificates git gcc libc6-dev
  dataset-fashion-mnist
  jupyter-notebook jupyter-nbconvert python3-nbconvert python3-ipykernel jupyter-client
  python3-torch libopenblas0-openmp python3-numpy
  zfp python3-zfpy zstd netcdf-bin python3-netcdf4 python3-h5py
  sox codec2 opus-tools pocketsphinx pocketsphinx-en-us pocketsphinx-testdata
  asterisk-core-sounds-en-wav asterisk-core-sounds-en codec2-examples espeak-ng flite
  festival festvox-kallpc16k festvox-kdlpc16k festvox-us-slt-hts
  fortunes
  qemu-user-static
)

repo_root="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
readonly repo_root

log() { echo "install-deps: $*"; }
fail() {
  echo "install-deps: $*" >&2
  exit 1
}

install_debian_packages() {
  local missing=() pkg
  for pkg in "${debian_packages[@]}"; do
    if ! dpkg-query -W -f='${Status}' "${pkg}" 2>/dev/null | grep -q '^install ok installed$'; then
      missing+=("${pkg}")
    fi
  done
  # Debian's npm conflicts with NodeSource's nodejs, which bundles its own npm: add it only
  # when no npm is on PATH at all.
  command -v npm >/dev/null || missing+=(npm)
  if ((${#missing[@]} == 0)); then
    log "Debian packages already installed"
    return
  fi
  [[ "$(id -u)" == 0 ]] || fail "Debian packages missing: ${missing[*]}; run this script as root (sudo $0)"
  log "installing Debian packages: ${missing[*]}"
  apt-get update
  DEBIAN_FRONTEND=noninteractive apt-get install -y --no-install-recommends "${missing[@]}"
}

check_go() {
  command -v go >/dev/null || fail "go not found on PATH: install Go (1.21 or later) from https://go.dev/dl/ first"
  local version
  version="$(go env GOVERSION)" ||
    fail "GOTOOLCHAIN=${GOTOOLCHAIN}: go could not fetch that toolchain (is the module proxy $(go env GOPROXY) reachable?)"
  version="${version%% *}" # without the experiments GOEXPERIMENT adds ("go1.27.3 X:simd")
  version="${version%%-X:*}"
  [[ "${version}" == "${go_version}" ]] ||
    fail "found ${version}, need ${go_version} (GOTOOLCHAIN=${GOTOOLCHAIN})"
  log "using ${version} at $(command -v go)"
}

# installed_version BINARY prints the module version BINARY was built from, or nothing.
installed_version() {
  [[ -x "$1" ]] || return 0
  go version -m "$1" 2>/dev/null | awk '$1 == "mod" { print $3; exit }'
}

# go_install PACKAGE VERSION builds the command PACKAGE, from its module at VERSION, into
# ${gobin}, unless the binary there was already built from that version. It resolves the module
# in a throw-away module: `go install PACKAGE@VERSION` also asks the proxy for the module's
# version list (to look for deprecations), which the proxy refuses for some modules, GoNB's
# among them.
go_install() {
  local package="$1" version="$2"
  local binary="${gobin}/${package##*/}"
  if [[ "$(installed_version "${binary}")" == "${version}" ]]; then
    log "${package##*/} ${version} already installed"
    return
  fi
  log "installing ${package}@${version} into ${gobin}"
  local work
  work="$(mktemp -d)"
  (
    cd "${work}"
    go mod init qzoo-install-deps >/dev/null 2>&1
    go get "${package}@${version}"
    go install "${package}"
  ) || {
    rm -rf "${work}"
    fail "could not build ${package}@${version} (go's messages above); is the module proxy $(go env GOPROXY) reachable?"
  }
  rm -rf "${work}"
  [[ "$(installed_version "${binary}")" == "${version}" ]] || fail "${binary} is not ${version} after go install"
}

# register_gonb_kernel installs GoNB's kernel spec and adds to its env the Go bin directory and
# GOTOOLCHAIN (Jupyter substitutes ${PATH} from the environment it starts the kernel in).
register_gonb_kernel() {
  local output
  output="$(PATH="${gobin}:${PATH}" "${gobin}/gonb" --install --raw_error 2>&1)" ||
    fail "gonb --install --raw_error failed: ${output}"
  # Where gonb --install writes, on Linux.
  local kernel_dir="${JUPYTER_DATA_DIR:-${HOME}/.local/share/jupyter}/kernels/gonb"
  [[ -f "${kernel_dir}/kernel.json" ]] || fail "gonb --install ran, but wrote no ${kernel_dir}/kernel.json"
  /usr/bin/python3 - "${kernel_dir}/kernel.json" "${gobin}" "${GOTOOLCHAIN}" <<'EOF'
import json, sys
path, gobin, toolchain = sys.argv[1:]
with open(path) as f:
    spec = json.load(f)
spec.setdefault("env", {}).update({"PATH": gobin + ":${PATH}", "GOTOOLCHAIN": toolchain})
with open(path, "w") as f:
    json.dump(spec, f, indent=1)
    f.write("\n")
EOF
  log "GoNB kernel registered in ${kernel_dir}"
}

install_onnxruntime() {
  local setup="${repo_root}/scripts/setup-onnxruntime.sh"
  if [[ -f "${setup}" ]]; then
    bash "${setup}"
  else
    log "no ${setup}: skipping ONNX Runtime"
  fi
}

start=${SECONDS}
install_debian_packages
check_go
gobin="$(go env GOBIN)"
[[ -n "${gobin}" ]] || gobin="$(go env GOPATH)/bin"
readonly gobin
go_install golang.org/x/tools/cmd/goimports "${tools_version}"
go_install golang.org/x/tools/gopls "${gopls_version}"
go_install github.com/janpfeifer/gonb "${gonb_version}"
register_gonb_kernel
install_onnxruntime
case ":${PATH}:" in
*":${gobin}:"*) ;;
*) log "note: ${gobin} is not on your PATH; add it to run gonb, goimports and gopls by hand" ;;
esac
log "done in $((SECONDS - start)) s"
