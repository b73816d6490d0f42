// Package notebooks holds qzoo's Jupyter notebooks, written for the GoNB kernel, and the test
// that executes every one of them headlessly (TestNotebooks), so that a notebook that no
// longer runs fails `go test ./...`. See README.md in this directory for how a notebook
// imports this checkout of qzoo and for what the test needs installed.
package notebooks
