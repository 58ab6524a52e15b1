// Package ruletest runs rule unit tests: YAML files listing events and
// exactly the rules each must fire. `ruled test` and the rule pack's own
// go test use it, so a rule change is checked the same way everywhere.
package ruletest
