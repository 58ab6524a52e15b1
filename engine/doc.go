// Package engine loads Falco-style YAML rules (lists, macros, rules with
// exceptions and overrides), compiles their conditions to expr programs
// type-checked against event.Event, and evaluates events against them.
//
// Macros and lists are expanded in the expr AST before type-checking, so a
// list used with `in` becomes a literal array that expr turns into a hash
// lookup at compile time. Each rule is indexed by the evt.type values its
// condition requires, so Eval runs only the rules that can match an event.
//
// Loading never leaves an engine half-built: New returns either a complete
// Engine or a *LoadError listing every problem found as FILE:LINE: ... .
package engine
