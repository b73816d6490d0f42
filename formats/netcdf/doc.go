// Package netcdf is qzoo's netCDF format: it reads the gridded fields of netCDF-3 and
// netCDF-4 files in physical units, in a child process that a damaged file cannot crash, and
// writes them back as netCDF-3. It owns the files' data model: [File], [Variable], [Coord],
// [Attr] and the CF [Packing]. Datasets (datasets/era5) and the codec's media front end
// (media/netcdf) build on it; it imports neither.
//
// # What it reads
//
// [Read] takes netCDF-3 (classic, 64-bit offset, 64-bit data; fixed or unlimited time) and
// netCDF-4/HDF5 files. It returns the gridded variables, those with dimensions (time,
// latitude, longitude) or (time, level, latitude, longitude), in physical units as float32,
// with their coordinates and attributes ([File]). Dimensions named number or expver (the
// current Copernicus data store's ensemble member and ERA5/ERA5T version) are dropped when
// of size 1 and refused, naming the variable and the dimension, when larger. [Write] writes a
// File as netCDF-3, re-packing short-packed variables with their own packing. [SameGrid]
// checks that two files share their time, latitude and longitude coordinates; [Channels]
// splits a file's variables into 2-D channels over time ("t2m", "q@850").
//
// # Two readers: the library for names, this package for values
//
// The pure-Go library github.com/batchatco/go-native-netcdf gives the names, dimensions and
// attributes. It is not trusted with values: it returns zeros or fill values without an
// error when a netCDF-4 variable's chunks split its last axes, and panics on a netCDF-3
// variable whose _FillValue has another type than the variable's. So the values are read by
// this package: netCDF-3 at the offsets of its header (cdfheader.go), netCDF-4 by package
// internal/h5, an independent walk of the HDF5 structures (superblock, object headers,
// symbol tables and dense link storage, chunk B-trees; deflate, shuffle and Fletcher-32
// filters, either byte order, chunks of any shape, partial edge chunks, chunks never written).
// What h5 does not read — other filters (szip, lzf, zstd...), the chunk indexes of HDF5 1.10
// (extensible arrays, version-2 B-trees; the library refuses that format's superblock
// anyway), shared datatypes, non-IEEE floats — is refused, naming the file, the variable
// and the structure: values are read correctly or not at all. The tests compare, value by
// value, files rewritten by netCDF-C (python3-netcdf4) with chunks splitting every axis
// against the originals, and CF decoding against netCDF4-python's.
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
// # CF decoding and missing values
//
// Stored values become physical values after the CF conventions (CF 1.11 sections 2.5.1 and
// 8.1) and the NetCDF User Guide (cf.go): variables of every integer type (byte, short, int,
// int64 and their unsigned forms, or signed ones read as unsigned under _Unsigned = "true")
// and floats; value = stored·scale_factor + add_offset in float64, then rounded to float32.
// A stored value is missing when it equals the _FillValue (netCDF-C's default fill for the
// type when absent, bytes excepted), any element of missing_value (a scalar or a vector), is
// NaN, or lies outside valid_range, valid_min or valid_max — compared in the packed domain,
// unless the attribute has scale_factor's floating type and the variable an integer type
// (then in physical units, as netCDF-Java reads it). A _FillValue or missing_value of another
// type than the variable's is converted to it, and refused, naming the file, the variable and
// the attribute, when it is not one of its values (0.5 for a short). Coordinates of any
// numeric type are read, 64-bit integer times too (refused beyond 2^53).
//
// Missing values come back as NaN in Variable.Data, counted in Variable.Missing; [File.Complete]
// turns them into an error ([ErrMissingValues]) that names the file, the variable, the count
// and the first position, e.g. "variable sst: 3 missing values (first at time 5, latitude 2,
// longitude 7)": consumers that need complete fields (the codec, training) call it. A value
// that unpacks to an infinity is refused by Read.
package netcdf
