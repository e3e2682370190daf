// Package smtp is Caduceus's SMTP door: the MX that receives mail for local
// addresses, the submission service where users send, and the client that
// hands mail to other servers.
//
// Rules a change must keep:
//   - The door decides nothing: who may send as whom, which recipients
//     exist, quotas and delivery belong to internal/core. The door
//     translates SMTP into core calls and core errors into replies.
//   - 250 after DATA only once the core has committed the message durably.
//   - Each connection runs on its own context, made in newSession from the
//     server's and ended by Logout (the connection closed, or STARTTLS) or
//     by Shutdown; every core call of a session takes it.
//   - Failures are *Error values with a reply code, an enhanced status code
//     (RFC 3463) and their cause; the cause goes to logs, never to the
//     client.
//   - Health data never reaches a log: no subject, body or attachment name,
//     and no correspondent's address. Logs carry the client's IP address,
//     sizes, recipient counts, Message-IDs and reply codes.
//   - Only the header section is parsed; the body passes through unchanged.
//   - Every capability advertised in EHLO is implemented and tested.
package smtp
