// Package falcoreplay runs libruled.so inside the real Falco
// (../shared/falco/falco) on replayed events. Its tests check that Falco
// capture files keep decoding across the plugin's payload encodings (the
// JSON lines of older plugins, the binary encoding of today's). Its
// benchmarks measure the plugin's cost per event against a trivial
// plugin-sdk-go plugin (./trivial) on the same generated events and the
// same one-rule file, and standalone ruled -replay on the same events
// (make bench-falco; figures in BENCHMARKS.md).
package falcoreplay
