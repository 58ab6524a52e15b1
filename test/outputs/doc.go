// Package outputs holds end-to-end tests of ruled's outputs against real
// receivers on this machine: an rsyslogd started by the test (unix socket,
// UDP and TCP on 127.0.0.1) that must parse our messages as RFC 5424.
package outputs
