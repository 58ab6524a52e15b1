// Package respond tests opt-in containment end to end: the real agent
// (default sources and rules) with a `responses:` config detects a real
// reverse shell in one container and commits, disconnects and pauses it
// through the real dockerd, while a second container and a reverse shell on
// the host are left alone, a dry-run entry only reports, and an entry whose
// first action fails (pausing the paused victim) still runs its second.
// Root only (skips outside root, fails under CI=true).
package respond
