package falcoplugin

import "io/fs"

// builtinPack is nil until the rules package ships its embedded pack.
var builtinPack fs.FS
