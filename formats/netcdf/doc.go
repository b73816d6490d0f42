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
// of size 1 and refused, naming the variable and the dimension, when larger. A range of hours
// can be read instead of the whole time axis, and [Inspect] returns the metadata alone (see
// Streaming over time). [Write] writes a File as netCDF-3, re-packing short-packed variables
// with their own packing; [Create] writes one hour by hour. [SameGrid] checks that two files
// share their time, latitude and longitude coordinates; [Channels] splits a file's variables
// into 2-D channels over time ("t2m", "q@850").
//
// # Streaming over time
//
// Memory must stay bounded however many hours a file holds: a 0.25° global month
// (721×1440×744) is 3.1 GB of float32 per variable, beyond the default ReadOptions.MaxValues
// (2^28 values).
//
//   - ReadOptions.TimeStart and TimeCount read the hours [TimeStart, TimeStart+TimeCount) of
//     every variable (TimeCount 0: to the end of the axis). File.Time.Values holds their times,
//     each Variable's Shape[0] their number and Data their values only; File.TimeStart (the
//     first index read) and File.TimeTotal (the time axis's length in the file) say where they
//     are. MaxValues bounds the values of the range. Only the bytes of those hours are read and
//     allocated: netCDF-3 at their offsets from the header, fixed and record variables alike;
//     netCDF-4 contiguous data at its offsets, chunked data by the chunks that intersect the
//     range (the chunk index is walked whole: tens of bytes a chunk). A range outside the axis
//     is refused with an error wrapping [ErrTimeRange] that names the file, the range and the
//     axis's length. Variable.Missing counts the missing values of the range, and the position
//     [File.Complete] reports gives the time as the file's index (TimeStart + the index in Data).
//   - [Inspect] returns the metadata only — the coordinates (the whole time axis), the global
//     and variables' attributes, each variable's Dims, whole Shape and Packing, Data nil —
//     through the same reader process, reading no variable's values: it costs the same for any
//     size of file. go-native-netcdf, which gives the names, dimensions and attributes, reads
//     no values for them (its variable getters read values only when sliced, which this
//     package never does).
//   - [Create] starts a netCDF-3 file from a File's metadata (Data ignored);
//     [Writer.WriteHours] appends k ≥ 1 hours of every variable at a time, k·∏Shape[1:]
//     float32s each, row-major, in physical units; [Writer.Close] fails unless every hour of
//     File.Time was written, then flushes, syncs and renames the temporary file over the
//     destination; [Writer.Abort] removes it. Memory is bounded by one call's data and a
//     64 KiB buffer. [Write] is Create, one WriteHours of every variable's Data, and Close.
//
// TestStreamingMemory measures the peak resident memory (getrusage) of a month of 744 hours
// on the 0.25° grid, t2m packed as int16 and u as float32 (4.6 GB): writing it with Create, one
// hour a call, 15 MiB; reading one hour of it, 15 MiB in the calling process and 32 MiB in the
// reader process (24 hours: 197 and 625 MiB); Inspect, 6 MiB in each; one hour of a float32
// netCDF-4 copy written by netCDF-C, 11 MiB and 23 MiB contiguous, 11 and 35 MiB in deflated
// chunks of one hour. Reading the whole month at once is refused (MaxValues).
//
// This package writes netCDF-3 itself (write.go) because go-native-netcdf's writer (CDFWriter)
// takes every variable's values at once, as nested slices, and writes them all at Close:
// writing a month would take all of it in memory, twice over once packed. It cannot write a
// record dimension either, nor, with its 32-bit sizes, describe a variable of more than 4 GiB.
// Create writes the 64-bit offset format ("CDF\x02") with time as the record (unlimited)
// dimension: the header and the fixed coordinates (level, latitude, longitude) first, then one
// record an hour — the time value and every variable's values for that hour, each padded to 4
// bytes — which WriteHours appends. The only limit is netCDF-3's: 4 GiB per variable and hour.
// Written in any number of calls of any sizes, the file is the same, byte for byte; it reads
// back, value for value and attribute for attribute, as the library's writer's file did (the
// tests compare them), and netCDF-C reads it.
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
// truncated. So Read and Inspect never call the library in the calling process. They
// re-execute the current binary (os.Executable) with QZOO_NETCDF_READER=1 in its environment
// and the request (path and options, gob-encoded) on its stdin. This package's init function recognises the
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
// reading values: each variable's number of values to read (those of the hours asked for)
// against MaxValues and, in
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
