// Package respond tests opt-in containment end to end: the real agent
// (default sources and rules) with a `responses:` config detects a real
// reverse shell in one container and commits, disconnects and pauses it
// through the real dockerd, while a second container and a reverse shell on
// the host are left alone and a dry-run entry only reports. Root only
// (skips outside root, fails under CI=true).
package respond
