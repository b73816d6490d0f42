#!/usr/bin/python3
"""Writes the netCDF files that formats/netcdf's tests read, with netCDF-C (Debian's
python3-netcdf4) and HDF5 (python3-h5py) as the writers, and what netCDF4-python decodes from
them (CF masking and unpacking, missing values as NaN) as the expected values.

    variants.py chunked SRC OUT_DIR   copies of SRC's variables in chunked netCDF-4 layouts
    variants.py cf OUT_DIR            small files exercising CF decoding and the data-store layout
    variants.py hdf5 OUT_DIR          files written by HDF5 directly (h5py): mismatched _FillValue
                                      types, HDF5 1.10 chunk indexes, an lzf filter
    variants.py big OUT_DIR HOURS     big_contiguous.nc and big_chunked.nc: HOURS hours of float32
                                      t2m on a 0.25° global grid, contiguous and in deflated
                                      chunks of one hour (for measuring memory; no .f32 files)

Each written file NAME.nc gets NAME.nc.VAR.f32 for each gridded variable VAR: the values
netCDF4-python returns with auto mask-and-scale, float32, little-endian, NaN where masked.
"""
import sys

import numpy as np
import netCDF4


def expected(path):
    with netCDF4.Dataset(path) as d:
        for name, v in d.variables.items():
            if name in d.dimensions or v.ndim < 2:
                continue
            v.set_auto_maskandscale(True)
            data = v[:]
            if v.dtype.kind in "iu" and not hasattr(v, "scale_factor") and not hasattr(v, "add_offset"):
                data = np.ma.asarray(data).astype("f8")
            out = np.ma.filled(np.ma.asarray(data).astype("f8"), np.nan).astype("<f4")
            out.tofile(path + "." + name + ".f32")


def copy_attrs(src, dst, skip=("_FillValue",)):
    for a in src.ncattrs():
        if a not in skip:
            dst.setncattr(a, src.getncattr(a))


def chunked(src_path, out_dir):
    """Writes SRC's variables in layouts whose chunks split every axis, unevenly."""
    layouts = {
        # name: (chunk fraction rule, endian, zlib, shuffle, fletcher32, unlimited time)
        "deflate_shuffle": (lambda n: max(1, n // 3 + 1), "little", True, True, False, False),
        "bigendian": (lambda n: max(1, n // 2 + 1), "big", False, False, False, False),
        "big_deflate_unlimited": (lambda n: max(1, (n + 4) // 5), "big", True, True, False, True),
        "fletcher_tiny": (lambda n: min(n, 3), "little", True, False, True, False),
    }
    with netCDF4.Dataset(src_path) as src:
        src.set_auto_maskandscale(False)
        for name, (rule, endian, zlib, shuffle, fletcher, unlimited) in layouts.items():
            path = "%s/%s.nc" % (out_dir, name)
            with netCDF4.Dataset(path, "w", format="NETCDF4") as dst:
                copy_attrs(src, dst, skip=())
                for dname, dim in src.dimensions.items():
                    size = None if unlimited and dname in ("time", "valid_time") else len(dim)
                    dst.createDimension(dname, size)
                for vname, v in src.variables.items():
                    chunks = [rule(len(src.dimensions[dn])) for dn in v.dimensions]
                    fill = getattr(v, "_FillValue", None)
                    w = dst.createVariable(vname, v.dtype.newbyteorder("=") if endian == "little" else v.dtype.newbyteorder(">"), v.dimensions, zlib=zlib, shuffle=shuffle,
                                           fletcher32=fletcher, chunksizes=chunks, endian=endian,
                                           fill_value=fill)
                    copy_attrs(v, w)
                    w.set_auto_maskandscale(False)
                    w[:] = v[:]
            expected(path)


def cf(out_dir):
    """Small files for CF decoding: types, _Unsigned, valid ranges, vector missing values,
    masked fields, the current data store's layout."""
    nt, ny, nx = 3, 4, 5
    rng = np.random.default_rng(7)

    def grid(d, tname="time", ttype="i4"):
        d.createDimension(tname, nt)
        d.createDimension("latitude", ny)
        d.createDimension("longitude", nx)
        t = d.createVariable(tname, ttype, (tname,))
        t.units = "hours since 1900-01-01"
        t[:] = np.arange(nt) + 1_000_000
        lat = d.createVariable("latitude", "f4", ("latitude",))
        lat[:] = 60 - np.arange(ny)
        lon = d.createVariable("longitude", "f4", ("longitude",))
        lon[:] = np.arange(nx) - 10.0

    dims = ("time", "latitude", "longitude")
    shape = (nt, ny, nx)
    for fmt in ("NETCDF4", "NETCDF3_64BIT_DATA"):
        path = "%s/types_%s.nc" % (out_dir, fmt)
        with netCDF4.Dataset(path, "w", format=fmt) as d:
            grid(d)
            for vtype in ("i1", "u1", "i2", "u2", "i4", "u4", "i8", "f4", "f8"):
                v = d.createVariable("v_" + vtype, vtype, dims)
                v.set_auto_maskandscale(False)
                info = np.iinfo(vtype) if vtype[0] in "iu" else None
                lo, hi = (info.min + 2, info.max - 2) if info else (-1e3, 1e3)
                if vtype in ("i8",):
                    lo, hi = -2**40, 2**40
                vals = rng.uniform(lo, hi, size=shape)
                vals[0, 0, 0], vals[-1, -1, -1] = lo, hi
                v[:] = vals.astype(vtype)
            # packed short with valid_range in the packed domain and a vector missing_value
            v = d.createVariable("sst", "i2", dims, fill_value=np.int16(-32767))
            v.scale_factor = 0.01
            v.add_offset = 280.0
            v.valid_range = np.array([-2000, 3000], "i2")
            v.missing_value = np.array([-32767, -32000], "i2")
            v.set_auto_maskandscale(False)
            raw = rng.integers(-2000, 3000, size=shape).astype("i2")
            raw[:, 0, :2] = -32767           # land: fill
            raw[:, 1, 0] = -32000            # second missing value
            raw[0, 2, 3] = 3500              # above valid_max
            raw[1, 3, 4] = -2500             # below valid_min
            v[:] = raw
            # _Unsigned byte, packed, with valid_min / valid_max
            v = d.createVariable("ub", "i1", dims)
            v.setncattr("_Unsigned", "true")
            v.scale_factor = 0.5
            v.add_offset = 10.0
            v.valid_min = np.int8(5)
            v.valid_max = np.int8(-6)        # 250 unsigned
            v.set_auto_maskandscale(False)
            raw = rng.integers(-128, 127, size=shape).astype("i1")
            raw[0, 0, 0], raw[0, 0, 1], raw[0, 0, 2] = 4, -5, -1   # 4 < 5, 251 > 250, 255 ok? > 250
            v[:] = raw
            # a float field with NaNs and a float _FillValue
            v = d.createVariable("ci", "f4", dims, fill_value=np.float32(-9999.0))
            v.set_auto_maskandscale(False)
            vals = rng.uniform(0, 1, size=shape).astype("f4")
            vals[:, 2, 2] = -9999.0
            vals[2, 0, 0] = np.nan
            v[:] = vals
        expected(path)

    # The current Copernicus data store's layout: int64 valid_time in seconds, a scalar number,
    # expver as a string along valid_time; and a variable with a number dimension of size 1.
    path = "%s/cds.nc" % out_dir
    with netCDF4.Dataset(path, "w", format="NETCDF4") as d:
        grid(d, "valid_time", "i8")
        d["valid_time"].units = "seconds since 1970-01-01"
        d["valid_time"][:] = 1_700_000_000 + 3600 * np.arange(nt)
        n = d.createVariable("number", "i8", ())
        n[...] = 0
        e = d.createVariable("expver", str, ("valid_time",))
        for i in range(nt):
            e[i] = "0001"
        v = d.createVariable("t2m", "f4", ("valid_time", "latitude", "longitude"), zlib=True,
                             chunksizes=(1, 3, 2))
        v.units = "K"
        v[:] = 273 + rng.uniform(0, 10, size=shape)
        # Only the first hour written: the chunks of the others are never allocated.
        v = d.createVariable("sparse", "f4", ("valid_time", "latitude", "longitude"), chunksizes=(1, 3, 2))
        v[0] = rng.uniform(0, 1, size=shape[1:])
    expected(path)
    # An ensemble dimension of size 1 (read) and an expver dimension of size 2 (refused).
    path = "%s/cds_dims.nc" % out_dir
    with netCDF4.Dataset(path, "w", format="NETCDF4") as d:
        grid(d, "valid_time", "i8")
        d.createDimension("number", 1)
        d.createVariable("number", "i8", ("number",))[:] = [0]
        v = d.createVariable("ens", "f4", ("number", "valid_time", "latitude", "longitude"))
        v[:] = 5 + rng.uniform(0, 1, size=(1,) + shape)
        d.createDimension("expver", 2)
        d.createVariable("expver", str, ("expver",))[:] = np.array(["0001", "0005"], dtype=object)
        v = d.createVariable("mixed", "f4", ("valid_time", "expver", "latitude", "longitude"))
        v[:] = rng.uniform(0, 1, size=(nt, 2, ny, nx))
    expected(path)


def hdf5(out_dir):
    """Files written by HDF5 directly (h5py), as netCDF-4 with dimension scales: _FillValue
    attributes of another type than their variable's, the chunk indexes of HDF5 1.10's file
    format (libver "latest": single chunk, fixed array, extensible array, version-2 B-tree),
    and a filter netCDF-C does not write (lzf)."""
    import h5py

    nt, ny, nx = 5, 6, 7
    rng = np.random.default_rng(11)

    def scales(f, unlimited=()):
        out = []
        for name, n, dtype in (("time", nt, "i4"), ("latitude", ny, "f4"), ("longitude", nx, "f4")):
            c = f.create_dataset(name, data=np.arange(n, dtype=dtype), maxshape=(None,) if name in unlimited else None,
                                 chunks=(n,) if name in unlimited else None)
            c.make_scale(name)
            out.append(c)
        return out

    def field(f, name, data, **kw):
        v = f.create_dataset(name, data=data, **kw)
        for i, c in enumerate(scales.last):
            v.dims[i].attach_scale(c)
        return v

    for name, fill in (("fill_f32", np.float32(-32767.0)), ("fill_i32", np.int32(-32767)), ("fill_half", np.float64(0.5))):
        with h5py.File("%s/h5_%s.nc" % (out_dir, name), "w", libver="earliest") as f:
            scales.last = scales(f)
            raw = rng.integers(-1000, 1000, size=(nt, ny, nx)).astype("i2")
            raw[1, 2, 3] = -32767
            v = field(f, "t2m", raw)
            v.attrs["_FillValue"] = fill
            v.attrs["scale_factor"] = np.float64(0.5)
            v.attrs["add_offset"] = np.float64(273.0)
        with open("%s/h5_%s.nc.t2m.f32" % (out_dir, name), "wb") as out:
            vals = raw.astype("f8") * 0.5 + 273.0
            if name != "fill_half":
                vals[1, 2, 3] = np.nan
            vals.astype("<f4").tofile(out)

    layouts = {
        "single": dict(chunks=(nt, ny, nx)),
        "fixed": dict(chunks=(2, 4, 3)),
        "fixed_big_deflate": dict(chunks=(3, 5, 2), compression="gzip", shuffle=True, dtype=">f4"),
        "extensible": dict(chunks=(2, 4, 3), maxshape=(None, ny, nx)),
        "btree2": dict(chunks=(2, 4, 3), maxshape=(None, None, nx)),
        "lzf": dict(chunks=(2, 4, 3), compression="lzf"),
        "fletcher": dict(chunks=(2, 4, 3), fletcher32=True),
    }
    for name, kw in layouts.items():
        data = rng.uniform(200, 300, size=(nt, ny, nx)).astype("f4")
        libver = "earliest" if name in ("lzf", "fletcher") else "latest"
        with h5py.File("%s/h5_%s.nc" % (out_dir, name), "w", libver=libver) as f:
            scales.last = scales(f, unlimited=("time",) if "maxshape" in kw else ())
            v = field(f, "t2m", data, **kw)
            if name == "fletcher":  # where the first chunk's bytes are, for a test to damage them
                with open("%s/h5_%s.nc.chunk0" % (out_dir, name), "w") as out:
                    out.write(str(v.id.get_chunk_info(0).byte_offset))
        data.astype("<f4").tofile("%s/h5_%s.nc.t2m.f32" % (out_dir, name))


def big(out_dir, hours):
    """A 0.25° global field over many hours, written hour by hour (bounded memory)."""
    lat = np.linspace(90, -90, 721, dtype="f4")
    lon = np.arange(1440, dtype="f4") * 0.25
    base = (250 + 40 * np.cos(np.radians(lat))[:, None] + np.sin(np.radians(lon))[None, :]).astype("f4")
    for name, kw in (("big_contiguous", dict(contiguous=True)),
                     ("big_chunked", dict(chunksizes=(1, 721, 1440), zlib=True, complevel=1, shuffle=True))):
        with netCDF4.Dataset("%s/%s.nc" % (out_dir, name), "w", format="NETCDF4") as d:
            d.createDimension("time", hours)
            d.createDimension("latitude", 721)
            d.createDimension("longitude", 1440)
            t = d.createVariable("time", "i4", ("time",))
            t.units = "hours since 1900-01-01"
            t[:] = np.arange(hours, dtype="i4") + 1_000_000
            d.createVariable("latitude", "f4", ("latitude",))[:] = lat
            d.createVariable("longitude", "f4", ("longitude",))[:] = lon
            v = d.createVariable("t2m", "f4", ("time", "latitude", "longitude"), **kw)
            v.units = "K"
            for h in range(hours):
                v[h] = base + np.float32(h % 24) / 4


if __name__ == "__main__":
    if sys.argv[1] == "chunked":
        chunked(sys.argv[2], sys.argv[3])
    elif sys.argv[1] == "cf":
        cf(sys.argv[2])
    elif sys.argv[1] == "hdf5":
        hdf5(sys.argv[2])
    elif sys.argv[1] == "big":
        big(sys.argv[2], int(sys.argv[3]))
    else:
        sys.exit("usage: variants.py chunked SRC OUT_DIR | cf OUT_DIR | hdf5 OUT_DIR | big OUT_DIR HOURS")
