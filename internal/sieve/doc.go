// Package sieve parses and runs Sieve mail filters (RFC 5228) with the
// extensions Caduceus offers: fileinto and copy (RFC 5228 §4.1,
// RFC 3894), envelope, reject (RFC 5429), imap4flags (RFC 5232),
// vacation (RFC 5230), relational (RFC 5231), date (RFC 5260) and body
// (RFC 5173), under
// the comparators i;ascii-casemap, i;octet and i;ascii-numeric
// (RFC 4790).
//
// A script is read in two steps: the generic grammar of RFC 5228 §8
// (lex.go, parse.go) gives commands, arguments and tests; the checker
// (compile.go) gives them their meaning, refuses what is unknown or not
// required, and yields a Script. Run walks a Script over a Message and
// returns the Actions it decided; it never sends, files or rejects
// anything itself: the core does, and decides what the actions may do
// (where redirect may go, when vacation may answer).
//
// Rules a change must keep:
//   - Every error names the line and column it is at (*Error), in words
//     the person who wrote the script can act on.
//   - Limits bound what a script costs: its size and nesting when
//     parsed, its actions when run. :matches never backtracks beyond the
//     last star.
//   - A run that fails returns an error and no actions: the caller keeps
//     the message (RFC 5228 §2.10.6), it is never lost.
//   - Capabilities listed by Extensions are exactly those implemented.
package sieve
