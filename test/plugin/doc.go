// Package plugin holds the end-to-end test of libruled.so on the live
// kernel: the C harness opens the plugin's procconn source as Falco would
// and must see the exec of a process the test starts.
package plugin
