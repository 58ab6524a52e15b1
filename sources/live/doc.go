// Package live assembles ruled's live sensors: the kernel audit source and the
// proc connector, the shared process table that merges and enriches their
// events, container attribution and network-namespace sockets. The agent,
// `ruled events` and the Falco plugin all build their live input here, so the
// three see identical events.
package live
