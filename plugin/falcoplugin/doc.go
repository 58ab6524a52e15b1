// Package falcoplugin is the logic of libruled.so, ruled as a Falco plugin:
// an event source ("ruled") that runs ruled's sources (audit, procconn, or a
// replay file) and a field extractor that exposes every event field as
// ruled.FIELD, plus the ruled rule that matched the event (ruled.rule ...).
//
// plugin/main.go only registers this package with the plugin SDK, so
// everything here is covered by plain `go test`; the C ABI is exercised by
// the harness test that builds the .so.
//
// Events cross the plugin boundary in a compact binary encoding (codec.go):
// tagged fields, so an event written by an older or newer plugin still
// extracts every field both know, and a version byte, so the JSON lines that
// plugins before it wrote into Falco capture files still decode. Extraction
// takes an event this process sent lately from a table keyed in the payload
// (recent.go) and decodes any other payload once per event number.
// BenchmarkEncode/BenchmarkDecode measure the codec; test/falcoreplay the
// cost inside the real Falco.
package falcoplugin
