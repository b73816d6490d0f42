// Package all registers every model and dataset of the zoo with the framework: commands,
// notebooks and tests import it for its side effects.
package all

import (
	_ "github.com/qzoo/qzoo/datasets/era5"         // registers "era5"
	_ "github.com/qzoo/qzoo/datasets/fashionmnist" // registers "fashion-mnist"
	_ "github.com/qzoo/qzoo/datasets/speech"       // registers "speech"
	_ "github.com/qzoo/qzoo/datasets/text"         // registers "text"
	_ "github.com/qzoo/qzoo/models/asr"            // registers "asr"
	_ "github.com/qzoo/qzoo/models/llama"          // registers "llama"
	_ "github.com/qzoo/qzoo/models/speechtok"      // registers "speechtok" and "speechtok_nodistill"
	_ "github.com/qzoo/qzoo/models/vaeformer"      // registers "vaeformer"
	_ "github.com/qzoo/qzoo/models/vqae"           // registers "vqae"
	_ "github.com/qzoo/qzoo/models/whisper"        // registers "whisper_encoder"
)
