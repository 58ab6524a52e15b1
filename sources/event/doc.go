// Package event defines the one normalized event every source emits and every
// consumer (engine, outputs, plugin) reads, the alert the engine produces, and
// a registry of dotted field names ("proc.name") shared by rule conditions,
// output templates, the JSON encoding and the Falco plugin ("ruled.proc.name").
//
// The package imports only the standard library so that every other package
// can depend on it without cycles.
package event
