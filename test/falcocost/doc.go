// Package falcocost measures what libruled.so costs inside the real Falco
// (../shared/falco/falco) against a trivial plugin-sdk-go plugin
// (./trivial), both replaying the same generated benign events through the
// same one-rule file. Run with make bench-falco; the figures go to
// BENCHMARKS.md.
package falcocost
