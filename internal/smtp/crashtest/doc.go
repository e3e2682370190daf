// Package crashtest holds the crash test of the SMTP door: it builds the
// caduceus binary, kills `caduceus serve` with SIGKILL while clients submit,
// and checks after a restart that every message acknowledged with a 250 was
// kept. It lives apart from package smtp's tests because it needs the whole
// node, not just the door.
package crashtest
