// Package auth holds what every door needs to know who is speaking: argon2id
// password hashes, e-mailed one-time codes, per-key rate limits and
// server-side sessions with idle and absolute timeouts.
//
// Rules a change must keep:
//   - Secrets are never stored in clear: passwords as argon2id hashes with
//     their parameters, one-time codes as keyed SHA-256, session tokens as
//     SHA-256. A leaked table gives no usable credential.
//   - Comparisons of secrets are constant-time.
//   - Errors returned to a door never tell whether an account exists; doors
//     show one message for every failure.
//   - Persistence goes through the small CodeStore and SessionStore
//     interfaces; SQLStore implements both over the shared metadata store so
//     that several nodes share sessions and codes.
package auth
