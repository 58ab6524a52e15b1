// Package falcolang parses Falco's filter language (the condition language
// of Falco's rule files) and compiles it to expr syntax trees over
// event.Event, so the engine evaluates, indexes and rate-limits
// Falco-language rules exactly like its own expr rules.
//
// Parse turns a condition into an AST with byte offsets; Compile turns the
// AST into an expr node, resolving Falco field names through the alias
// table in fields.go (Falco's meaning of each field, derived from ruled's
// event) and macro and list names through an Env. A field ruled has no data
// for yields a *MissingError naming it, so the caller can load the rule
// disabled instead of failing the load.
//
// The grammar and operator semantics follow libsinsp's filter parser and
// filter checks (falcosecurity/libs userspace/libsinsp/filter).
package falcolang
