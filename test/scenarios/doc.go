// Package scenarios is ruled's detection acceptance suite. It runs the real
// ruled binary (default embedded rules, default sources, -output json) once
// as root, performs each attack for real in a throwaway container made from
// the offline test image plus small static helpers (a stand-in "java", a
// memfd executor, a ptrace attacher ...), and checks that the expected alert
// arrives attributed to the right container, process and remote end. Benign
// twins of every attack must stay silent, every alert on a scenario
// container must be one the scenario expected, and the audit state must be
// what it was before ruled started once ruled exits on SIGTERM.
//
// go test -run TestScenarios -update ./test/scenarios rewrites RESULTS.md,
// the table of scenarios, MITRE techniques, fired rules and latencies, and
// names every default rule without a passing live scenario.
package scenarios
