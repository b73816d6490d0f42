// Package era5 is the ERA5 reanalysis dataset (Hersbach et al. 2020, "The ERA5 global
// reanalysis", QJRMS 146:1999–2049), registered with the framework as "era5": windows of
// consecutive hours shaped [window, channels, latitude, longitude], split by time. The files
// are read by package formats/netcdf (in a child process that a damaged file cannot crash,
// CF packing applied); channels with missing values are refused, naming the file, the variable
// and the first missing value; this package keeps the splits, the
// normalisation statistics and the registration.
//
// # The dataset
//
// netcdf.Channels splits variables into 2-D channels over time: a surface variable is one channel
// named after it ("t2m"); a variable with levels gives one channel per level ("q@850"). The
// dataset "era5" (see register.go for its era5_* hyperparameters) reads one or more files on
// the same grid and hours, keeps the channels asked for, and splits the time axis in order:
// the first hours train, then era5_validation_hours for validation, then era5_test_hours for
// test, without overlap. Training examples are every window of era5_window consecutive hours
// inside the training hours (overlapping), shuffled by seed; the validation and test splits
// are cut into non-overlapping windows in time order, and the hours that do not fill a last
// window are left out. Batches hold one float32 tensor [B, window, C, H, W] in physical
// units; the per-channel mean and standard deviation of the training hours, the coordinates
// and the units are in [Dataset], the framework's Data.Source.
//
// The default file, era5/era5-2mt-2019-03-uk.nc, holds the hourly 2 m temperature of March
// 2019 over the British Isles (744 hours on a 0.25° grid of 33 latitudes from 58°N to 50°N by
// 49 longitudes from 10°W to 2°E), packed as int16: about 2.0 bytes per value on disk.
package era5
