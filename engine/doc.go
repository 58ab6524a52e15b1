// Package engine loads Falco-style YAML rules (lists, macros, rules with
// exceptions and overrides), compiles their conditions to expr programs
// type-checked against event.Event, and evaluates events against them.
//
// Macros and lists are expanded in the expr AST before type-checking, so a
// list used with `in` becomes a literal array that expr turns into a hash
// lookup at compile time. Each rule is indexed by the evt.type values its
// condition requires, so Eval runs only the rules that can match an event.
//
// A rules file may instead be written in Falco's filter language (package
// falcolang compiles it to the same expr form, through an alias table of
// Falco's field meanings); Falco-language lists and macros live in their
// own namespace, and a Falco rule needing data ruled does not collect loads
// inactive with the reason (Inactive) instead of failing the load.
//
// Loading never leaves an engine half-built: New returns either a complete
// Engine or a *LoadError listing every problem found as FILE:LINE: ... .
package engine
