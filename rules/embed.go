// Package rules is ruled's default rule pack: Falco-style YAML rules whose
// conditions are expr expressions over the event fields of sources/event.
//
// The files load in lexical order: 00-base.yaml holds the shared lists and
// macros, the numbered files after it one theme each (shells, execution,
// files, container escapes, mining). Every themed file starts with its
// tunable lists and `user_known_*` macros so that a local file loaded after
// the pack (`ruled -rules builtin -rules local.yaml`) can override them.
// tests/ holds the rule tests run by `go test ./rules` and `ruled test`.
package rules

import "embed"

// Pack is the default rule pack, embedded so the binary works without
// files on disk; engine.ReadPaths expands the -rules word "builtin" to it.
//
//go:embed *.yaml
var Pack embed.FS
