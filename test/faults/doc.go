// Package faults is ruled's fault suite: each test runs the whole agent
// binary with the default rule pack (plus one rule that counts the suite's
// marker execs), injects one fault, and checks that events keep flowing,
// that what was accepted and not delivered is counted, and that the agent
// recovers. Root, real audit, proc connector and Docker; the kernel lock
// applies (see test/e2e).
package faults
