// Package queue delivers the mail users send to remote addresses. The core
// keeps the queue durable (one row per remote recipient, the message in the
// blob store); this package claims due rows, hands them to a Transport, and
// records the outcome.
//
// Rules a change must keep:
//   - An entry leaves the queue only after the remote server accepted it, or
//     after the sender's failure notice is durably in their Inbox: a crash in
//     between means a second attempt or a second notice, never a lost one.
//   - A temporary failure (4xx, a broken connection, a DNS error) is retried
//     with exponential backoff until the entry expires; a permanent one (5xx)
//     is not retried.
//   - Failure notices (RFC 3464) carry the original header section, never
//     the body; none is sent for a notice, nor when NOTIFY=NEVER.
//   - Several runners, on one node or many, may share the queue: an entry is
//     leased to one runner at a time by the core.
//   - Logs carry entry ids, hosts, codes and timings: no correspondent's
//     address, no subject.
package queue
