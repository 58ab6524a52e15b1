// Package falcolang holds the differential check of ruled's Falco-language
// support against the real Falco (../shared/falco/falco, replay mode
// through libruled.so): the same conditions over ruled.* fields, the same
// events, and the alerts must agree event by event.
package falcolang
