// Package falcoplugin is the logic of libruled.so, ruled as a Falco plugin:
// an event source ("ruled") that runs ruled's sources (audit, procconn, or a
// replay file) and a field extractor that exposes every event field as
// ruled.FIELD, plus the ruled rule that matched the event (ruled.rule ...).
//
// plugin/main.go only registers this package with the plugin SDK, so
// everything here is covered by plain `go test`; the C ABI is exercised by
// the harness test that builds the .so.
//
// Events cross the plugin boundary as one JSON line each, the encoding of
// `ruled events` and -replay: self-describing and versionless, so a Falco
// capture (.scap) of ruled events can be read back by ruled itself, and an
// event written by an older or newer plugin still extracts every field both
// know. BenchmarkEncode/BenchmarkDecode measure its cost.
package falcoplugin
