package era5

import (
	"fmt"
	"strings"

	"github.com/qzoo/qzoo/framework"
	"github.com/qzoo/qzoo/framework/hparams"
)

// DatasetName is the name the dataset is registered under with the framework.
const DatasetName = "era5"

// Hyperparameters of the dataset.
const (
	// ParamFile is the netCDF file, relative to the data directory or absolute; several
	// files on the same grid and hours may be given separated by commas. Default
	// "era5/era5-2mt-2019-03-uk.nc".
	ParamFile = "era5_file"
	// ParamVariables lists the channels, comma-separated, named as [Channels] names them
	// ("t2m", "q@850"). Default "t2m".
	ParamVariables = "era5_variables"
	// ParamWindow is the number of consecutive hours per example. Default 4.
	ParamWindow = "era5_window"
	// ParamValidationHours is the number of hours, before the test hours, held out as the
	// validation split. Default 72.
	ParamValidationHours = "era5_validation_hours"
	// ParamTestHours is the number of hours at the end held out as the test split. Default 168.
	ParamTestHours = "era5_test_hours"
)

// Params lists the dataset's hyperparameters.
var Params = hparams.List{
	{Key: ParamFile, Default: "era5/era5-2mt-2019-03-uk.nc",
		Doc: "netCDF file(s) of ERA5 fields, comma-separated, relative to the data directory or absolute"},
	{Key: ParamVariables, Default: "t2m",
		Doc: `channels, comma-separated: a variable ("t2m") or a variable at a level ("q@850")`},
	{Key: ParamWindow, Default: 4, Domain: hparams.Range(1, 1<<16), Doc: "consecutive hours per example"},
	{Key: ParamValidationHours, Default: 72, Domain: hparams.Range(0, 1<<24),
		Doc: "hours before the test hours held out as the validation split (0: none)"},
	{Key: ParamTestHours, Default: 168, Domain: hparams.Range(0, 1<<24),
		Doc: "hours at the end held out as the test split (0: none)"},
}

func init() {
	framework.RegisterDataset(&framework.Dataset{
		Name: DatasetName,
		Doc: "ERA5 reanalysis fields from netCDF (default: hourly 2 m temperature over the UK, March 2019) as windows " +
			"[window, channels, lat, lon] of consecutive hours; splits train, validation, test by time",
		Params: Params,
		Load: func(dataDir string, params map[string]any) (*framework.Data, error) {
			files, cfg, err := ConfigFromParams(params)
			if err != nil {
				return nil, err
			}
			d, err := Load(dataDir, files, cfg)
			if err != nil {
				return nil, err
			}
			return d.FrameworkData(), nil
		},
	})
}

// ConfigFromParams returns the files and the Config that the dataset's resolved
// hyperparameters name (ParamFile and ParamVariables split at commas, the window and the
// split hours): what the loader uses, and what a model reads back from a run's params to know
// its channels and window. A key that is absent or of the wrong type is an error naming it.
func ConfigFromParams(params map[string]any) (files []string, cfg Config, err error) {
	str := func(key string) string {
		v, ok := params[key].(string)
		if !ok && err == nil {
			err = fmt.Errorf("era5: params lack %s (a string)", key)
		}
		return v
	}
	num := func(key string) int {
		v, ok := params[key].(int)
		if !ok && err == nil {
			err = fmt.Errorf("era5: params lack %s (an int)", key)
		}
		return v
	}
	files = splitList(str(ParamFile))
	cfg = Config{Channels: splitList(str(ParamVariables)), Window: num(ParamWindow),
		ValidationHours: num(ParamValidationHours), TestHours: num(ParamTestHours)}
	return files, cfg, err
}

// splitList splits a comma-separated list, trimming spaces and dropping empty items.
func splitList(s string) []string {
	var out []string
	for _, item := range strings.Split(s, ",") {
		if item = strings.TrimSpace(item); item != "" {
			out = append(out, item)
		}
	}
	return out
}
