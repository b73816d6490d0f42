//go:build ((linux && (amd64 || arm64)) || (darwin && arm64)) && cgo && !noxla

package framework

import (
	xla "github.com/gomlx/go-xla/compute/xla"
)

// The XLA backend is compiled in by default (it needs cgo; -tags noxla leaves it out). Its package only
// registers the backend and reads plugin search paths at init: no plugin is loaded and nothing is
// downloaded until a backend is created, and the auto-installer is switched off here in any case (it is
// only linked when something imports go-xla's autoinstall package, e.g. gomlx/backends/default).
func init() {
	xlaCompiledIn = true
	xla.EnableAutoInstall(false)
}
