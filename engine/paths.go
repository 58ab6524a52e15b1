package engine

import (
	"fmt"
	"io/fs"
	"os"
	"path"
	"path/filepath"
	"sort"
	"strings"
)

// File is one rules file: a display name (its path) and its content.
type File struct {
	Name string
	Data []byte
}

// Builtin is the -rules word naming the embedded default pack.
const Builtin = "builtin"

// ReadPaths expands -rules arguments in order: a file; a directory (its
// *.yaml and *.yml files in lexical order, not recursive); or the word
// "builtin", every *.yaml file at the root of builtin in lexical order.
func ReadPaths(paths []string, builtin fs.FS) ([]File, error) {
	var files []File
	for _, p := range paths {
		if p == Builtin {
			if builtin == nil {
				return nil, fmt.Errorf("rules %s: no builtin pack in this build", p)
			}
			names, err := fs.Glob(builtin, "*.yaml")
			if err != nil {
				return nil, fmt.Errorf("read builtin rules: %w", err)
			}
			sort.Strings(names)
			for _, n := range names {
				b, err := fs.ReadFile(builtin, n)
				if err != nil {
					return nil, fmt.Errorf("read builtin rules %s: %w", n, err)
				}
				files = append(files, File{Name: path.Join(Builtin, n), Data: b})
			}
			continue
		}
		st, err := os.Stat(p)
		if err != nil {
			return nil, fmt.Errorf("rules %s: %w", p, err)
		}
		if !st.IsDir() {
			b, err := os.ReadFile(p)
			if err != nil {
				return nil, fmt.Errorf("rules %s: %w", p, err)
			}
			files = append(files, File{Name: p, Data: b})
			continue
		}
		ents, err := os.ReadDir(p)
		if err != nil {
			return nil, fmt.Errorf("rules %s: %w", p, err)
		}
		// ReadDir sorts by name already; the lexical order is the contract.
		for _, e := range ents {
			n := e.Name()
			if e.IsDir() || !(strings.HasSuffix(n, ".yaml") || strings.HasSuffix(n, ".yml")) {
				continue
			}
			fp := filepath.Join(p, n)
			b, err := os.ReadFile(fp)
			if err != nil {
				return nil, fmt.Errorf("rules %s: %w", fp, err)
			}
			files = append(files, File{Name: fp, Data: b})
		}
	}
	return files, nil
}
