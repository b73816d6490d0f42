package netcdf

// Synthetic returns a File of float32 variables over nt hours, nl levels (0: none),
// ny latitudes from 60 down by 1 and nx longitudes from −10 by 1, valued so that every
// value tells its variable and position: 1000·var + 100·t + 10·l + y + x/10 (var: the
// index in names; levels 500, 550, ... hPa). Each variable's units are "u"+name. It is the
// fixture of the tests of this package and of its users (datasets, the codec).
func Synthetic(nt, nl, ny, nx int, names ...string) *File {
	f := &File{Path: "synthetic", Format: "netCDF-3",
		Global: []Attr{{"Conventions", "CF-1.6"}},
		Time:   Coord{Name: "time", Type: "int32", Attrs: []Attr{{"units", "hours since 1900-01-01"}, {"calendar", "gregorian"}}},
		Lat:    Coord{Name: "latitude", Type: "float32", Attrs: []Attr{{"units", "degrees_north"}}},
		Lon:    Coord{Name: "longitude", Type: "float32", Attrs: []Attr{{"units", "degrees_east"}}},
	}
	for t := range nt {
		f.Time.Values = append(f.Time.Values, float64(1_000_000+t))
	}
	for y := range ny {
		f.Lat.Values = append(f.Lat.Values, float64(60-y))
	}
	for x := range nx {
		f.Lon.Values = append(f.Lon.Values, float64(x-10))
	}
	dims, shape := []string{"time", "latitude", "longitude"}, []int{nt, ny, nx}
	levels := 1
	if nl > 0 {
		f.Level = &Coord{Name: "level", Type: "int32", Attrs: []Attr{{"units", "millibars"}}}
		for l := range nl {
			f.Level.Values = append(f.Level.Values, float64(500+50*l))
		}
		dims, shape, levels = []string{"time", "level", "latitude", "longitude"}, []int{nt, nl, ny, nx}, nl
	}
	for i, name := range names {
		v := &Variable{Name: name, Dims: dims, Shape: shape, Attrs: []Attr{{"units", "u" + name}, {"long_name", name}}}
		for t := range nt {
			for l := range levels {
				for y := range ny {
					for x := range nx {
						v.Data = append(v.Data, float32(1000*i+100*t+10*l+y)+float32(x)/10)
					}
				}
			}
		}
		f.Vars = append(f.Vars, v)
	}
	return f
}
