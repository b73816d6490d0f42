#!/usr/bin/env bash
# setup-onnxruntime.sh puts ONNX Runtime's shared library where qzoo looks for it:
#
#   ${XDG_CACHE_HOME:-$HOME/.cache}/qzoo/onnxruntime/libonnxruntime.so.1
#
# The library comes from npm's onnxruntime-node package (its Linux x64 build ships
# libonnxruntime.so.1). The package is fetched with `npm pack`, which downloads the tarball
# without running any install script, and only that one file is extracted from it.
#
# Usage: scripts/setup-onnxruntime.sh        (idempotent: does nothing if the file is there)
# Then build or test with -tags onnx; framework.NewBackend picks the library up by itself.
set -euo pipefail

readonly version="1.30.0"
readonly member="package/bin/napi-v6/linux/x64/libonnxruntime.so.1"
readonly dest_dir="${XDG_CACHE_HOME:-$HOME/.cache}/qzoo/onnxruntime"
readonly dest="${dest_dir}/libonnxruntime.so.1"

fail() {
  echo "setup-onnxruntime: $*" >&2
  exit 1
}

if [[ -s "${dest}" ]]; then
  echo "setup-onnxruntime: ${dest} already present"
  exit 0
fi

[[ "$(uname -s)" == "Linux" && "$(uname -m)" == "x86_64" ]] ||
  fail "only Linux x86_64 is supported (npm's onnxruntime-node ships ${member}); this is $(uname -s) $(uname -m)"
command -v npm >/dev/null || fail "npm not found: install it (Debian: apt-get install npm) and run again"
command -v tar >/dev/null || fail "tar not found"

work="$(mktemp -d)"
trap 'rm -rf "${work}"' EXIT

echo "setup-onnxruntime: fetching onnxruntime-node@${version} with npm pack (no install scripts run)"
(cd "${work}" && npm pack --silent "onnxruntime-node@${version}" >/dev/null) ||
  fail "npm pack onnxruntime-node@${version} failed: is the npm registry reachable (npm config get registry)?"
tarball="${work}/onnxruntime-node-${version}.tgz"
[[ -f "${tarball}" ]] || fail "npm pack did not produce ${tarball}"

tar -xzf "${tarball}" -C "${work}" "${member}" ||
  fail "${member} not found in ${tarball}: the package layout changed"
[[ -s "${work}/${member}" ]] || fail "extracted ${member} is empty"

mkdir -p "${dest_dir}" || fail "cannot create ${dest_dir}"
# Write under a temporary name and rename, so an interrupted run never leaves a partial library.
cp "${work}/${member}" "${dest}.tmp" && mv "${dest}.tmp" "${dest}" || fail "cannot write ${dest}"
echo "setup-onnxruntime: installed ${dest}"
