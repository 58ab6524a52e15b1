// Package outputs delivers alerts to their destinations: stdout (a readable
// line or Falco JSON), files, syslog (RFC 5424 over a unix socket, UDP or
// TCP), webhooks and Falco/falcosidekick HTTP endpoints.
//
// A Stage owns one bounded queue and one worker goroutine per output, so a
// slow or dead receiver never stalls event intake or the other outputs:
// Stage.Send never blocks, and a full queue drops its oldest alerts and
// counts them. Transient failures (connection errors, HTTP 5xx and 429) are
// retried with exponential backoff and jitter; permanent ones (other HTTP
// 4xx) are counted as failed. On shutdown the queues drain for a bounded time
// and whatever is left is counted as dropped and logged.
//
// Outputs are named by spec strings (ParseSpec, the -output flag) or by the
// outputs: section of the config file (Spec implements yaml.Unmarshaler and
// rejects unknown keys with their line).
package outputs
