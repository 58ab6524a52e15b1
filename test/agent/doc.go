// Package agent tests the ruled binary as an operator runs it: one sensor
// at a time, alerts on stdout, clean exit on SIGTERM. Needs root and Docker;
// skips with the reason otherwise (never in CI).
package agent
