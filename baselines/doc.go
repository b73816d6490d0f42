// Package baselines holds the lossy float compressors a learned codec for gridded climate
// fields (float32 [T, H, W] in physical units, e.g. ERA5 2 m temperature in K) is compared
// against, each swept over its settings and measured by the same code as the learned codec
// ([metrics.CompareFields]: RMSE, latitude-weighted RMSE, max and mean absolute error, bias).
//
// The methods ([Sweep] runs them all):
//
//   - Bit-rounding + byte shuffle + a lossless coder (Klöwer, Razinger, Dominguez, Düben and
//     Palmer 2021, "Compressing atmospheric data into its real information content", Nature
//     Computational Science 1, 713–724): [BitRound] keeps k mantissa bits with IEEE rounding,
//     [Shuffle] groups the bytes of equal significance, and Zstandard or DEFLATE removes the
//     zeros and runs this leaves ([BitRoundCompress]). It is the climate community's own
//     method (numcodecs' BitRound, netCDF-C's quantize), the result is still float32 that any
//     reader reads, and its error is bounded per value relative to the value's magnitude.
//   - Linear n-bit packing ([LinearPack]): value ≈ offset + scale·k, what ERA5's own netCDF
//     files do with int16, alone and followed by a lossless coder. It is how the data are
//     distributed today: the status quo a codec must beat by a wide margin.
//   - ZFP in fixed-accuracy mode (Lindstrom 2014, "Fixed-Rate Compressed Floating-Point
//     Arrays", IEEE Transactions on Visualization and Computer Graphics 20(12), 2674–2683;
//     [ZFP], [ZFPCompress]): a block transform coder over 4×4×4 blocks, the standard
//     error-bounded compressor of scientific floating-point arrays, run through Debian's
//     python3-zfpy. Compressing [T, H, W] whole it exploits smoothness in time and space,
//     as a learned codec does; "zfp-2d" compresses each [H, W] slice alone.
//   - Bit-rounding and ZFP on the field minus its mean ([DemeanMethod], [Demean]): a field far
//     from zero (2 m temperature, ~280 K with a few K of variation) costs both methods bits
//     on the offset — bit-rounding's error scales with each value's magnitude, ZFP's
//     block-floating-point transform spends bit planes on it — so the anomaly is coded and
//     the mean (a float32: four bytes of side information per channel, i.e. per level)
//     added back. Linear packing needs no such variant: its offset removes the mean.
//   - SZ-style error-bounded prediction (SZ3: Liang et al. 2022, "SZ3: A Modular Framework
//     for Composing Prediction-Based Error-Bounded Lossy Compressors", IEEE Transactions on
//     Big Data) is not among them: no maintained implementation installs on these machines.
//     Debian has no SZ or SZ3 package (libsz2 is SZIP, a lossless coder), SZ3's Python
//     binding (pysz) is on PyPI, which they cannot reach, and neither npm nor the Go module
//     proxy carries one (checked 2026-12-07).
//
// Why these are the fair peers: they need no training, bound their errors, and are what
// the field uses; a learned codec earns its place only if it needs fewer bits at the same
// error on the same array. Compare at equal RMSE ([AtRMSE] interpolates each method's rate
// between the two settings that bracket a target) and look at the max error too: ZFP's
// RMSE is a small fraction of its tolerance, but its max error is several times its RMSE,
// where bit-rounding's is about √3 times its RMSE (uniform rounding errors).
//
// What is counted, so that the comparison is honest:
//   - Bytes are everything a decoder needs except the array's shape: the lossless stream
//     with its frame header, linear packing's offset and scale (16 bytes), zfpy's header, a
//     demeaned method's mean (4 bytes); a learned codec is charged its whole file, container
//     header included (models/vaeformer's RateDistortion).
//   - Every decoder's output is checked against what the encoder meant (bit-exact rounded or
//     packed values) before errors are measured, and decoders of untrusted streams are
//     bounded: they never produce more than the values asked for.
//   - Zstandard comes two ways: klauspost/compress in process ([CoderZstd], its best level)
//     and the reference library at level 19 through the zstd tool ([CoderZstd19]). On
//     bit-rounded ERA5 2 m temperature the reference stream is 4–28 % smaller (22 % at 7
//     kept bits, RMSE 0.58 K; more as fewer bits are kept), so the reference is the peer
//     to beat.
//   - ZFP's tolerance acts in powers of two ([DefaultZFPTolerances]); its speed is timed
//     inside Python around zfpy's calls, the Go methods' in process; speeds come from a
//     shared machine and are the fastest of SweepOptions.Repeats runs.
package baselines
