// Package loadgen holds the load generators behind `caduceus bench imap`
// and `caduceus bench smtp`: clients that drive a running server over the
// network, as real clients would, and measure what it answers.
//
// Rules a change must keep:
//   - A load generator is a client only: it speaks the protocol over a
//     connection and never reaches the server's packages, so that it
//     measures what a client sees and can load any node.
//   - Every latency figure comes from Summarize (one percentile, nearest
//     rank) and every printed report from report.go, so that the figures
//     of the two protocols read and compare the same.
//   - The output of the Report methods is what `caduceus bench` prints: a
//     contract that docs/performance.md quotes.
package loadgen
