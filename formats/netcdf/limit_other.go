//go:build !linux

package netcdf

// limitMemory does nothing outside Linux: there, only ReadOptions.MaxValues bounds the
// reader's memory.
func limitMemory(extra uint64) {}
