// Package notebooks holds qzoo's Jupyter notebooks, written for the GoNB kernel, and their tests:
// TestNotebooks executes every one of them headlessly, shortened by the flags of their `%%`
// lines, so that a notebook that no longer runs fails `go test ./...`; TestCommittedOutputs
// checks that each committed notebook shows its results (executed in full by
// scripts/notebooks.sh) or is listed as awaiting its runs. See README.md in this directory for
// how a notebook imports this checkout of qzoo and for what the tests need installed.
package notebooks
