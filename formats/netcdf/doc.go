// Package netcdf is qzoo's netCDF format: it reads the gridded fields of netCDF-3 and
// netCDF-4 files in physical units, in a child process that a damaged file cannot crash, and
// writes them back as netCDF-3. It owns the files' data model: [File], [Variable], [Coord],
// [Attr] and the CF [Packing]. Datasets (datasets/era5) and the codec's media front end
// (media/netcdf) build on it; it imports neither.
//
// # What it reads
//
// [Read] takes netCDF-3 (classic, 64-bit offset, 64-bit data; fixed or unlimited time) and
// netCDF-4/HDF5 files (zlib-compressed too) through the pure-Go library
// github.com/batchatco/go-native-netcdf. It returns the gridded variables, those with
// dimensions (time, latitude, longitude) or (time, level, latitude, longitude), in physical
// units as float32, with their coordinates and attributes ([File]). [Write] writes a File as
// netCDF-3, re-packing packed variables with their own packing. [SameGrid] checks that two
// files share their time, latitude and longitude coordinates; [Channels] splits a file's
// variables into 2-D channels over time ("t2m", "q@850").
//
// # Isolation: the library runs in a child process
//
// The library is not safe on damaged input: on netCDF-3 it sometimes panics; on
// netCDF-4/HDF5 some corruptions reach its internal Logger.Fatal, which calls log.Fatal, that
// is os.Exit(1), which no recover() can catch; others may loop or allocate without bound. A
// training run, a notebook or a test must not die because one file of a directory is
// truncated. So Read never calls the library in the calling process. It re-executes the
// current binary (os.Executable) with QZOO_NETCDF_READER=1 in its environment and the request
// (path and options, gob-encoded) on its stdin. This package's init function recognises the
// variable before main or the tests start, performs the read (with recover), sends the result
// on file descriptor 3 (a gob header with the coordinates and attributes, then the values as
// raw float32s) and exits. Any binary that imports the package, directly or through a
// package that does (datasets/era5, media/netcdf), can therefore serve as its own reader:
// commands (train, eval, codec, bench), test binaries, GoNB notebook binaries.
//
// The parent bounds what it spends: it kills the reader at ReadOptions.Timeout (2 minutes by
// default); it refuses a reply larger than ReadOptions.MaxValues values per variable before
// allocating it; it caps the reader's address space (RLIMIT_AS, Linux) so that a damaged size
// cannot make the library exhaust the machine's memory. The reader checks sizes before
// reading values: each variable's product of dimension sizes against MaxValues and, in
// netCDF-3, each variable's data against the end of the file (from the header, which the
// package parses itself: the library silently pads data missing from a truncated file with
// fill values). A reader that exits non-zero, is killed or answers garbage becomes an error
// wrapping [ErrReaderFailed] that names the file and quotes the last line the reader wrote
// to stderr (e.g. the library's "FATAL ... Reserved not zero"); the library's warnings are
// silenced in the reader, which also exits by itself shortly after the timeout, should the
// caller have died. Starting the reader costs tens of milliseconds: 50–80 ms for a test
// binary that links GoMLX on two busy cores (see BenchmarkReadUK).
//
// # CF packing and missing values
//
// ERA5 stores most variables as int16 with scale_factor and add_offset (CF packing): Read
// applies value = raw·scale_factor + add_offset, which the library does not, and records the
// packing in [Variable.Packing]. A raw value equal to _FillValue or missing_value is missing;
// the package's consumers (codecs, models) need complete fields, so a field with missing
// values, NaN or infinities is an error ([ErrMissingValues]) that names the file, the
// variable, the count and the first position, e.g. "variable t2m: 3 missing values (first at
// time 5, latitude 2, longitude 7)".
package netcdf
