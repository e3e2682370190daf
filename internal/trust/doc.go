// Package trust is the MSSanté trust space ("espace de confiance") as one
// node sees it: the certification authorities operators' certificates must
// chain to (IGC-Santé), the revocation lists of those authorities, and the
// national whitelist of operator domains mail may come from and go to.
//
// A Space loads them from files or URLs, keeps a copy of each last good
// version in its cache directory, and refreshes them on a timer. The SMTP
// door asks it whether a peer's certificate and a sender's domain pass; the
// outbound queue asks it whether a recipient's domain may be sent to and
// which TLS settings to use. Mutual TLS between operators follows the
// Référentiel socle MSSanté #1 and the TLS rules of #2 (ECO.1.1.2-1.1.10).
//
// Rules a change must keep:
//   - Fail closed: a node in trust mode that cannot load a CA bundle and a
//     whitelist (fetched or cached) does not start; a failed refresh keeps
//     the last good copy, logs a line and counts a failure, never empties
//     the list in force.
//   - The CA bundle is the only trust anchor for operators' certificates;
//     the system roots are never used for a peer.
//   - A signed whitelist is used only when its signature verifies against a
//     certificate chaining to the bundle, and only the signed content counts.
//   - Refusals name the rule that failed (Rule*), so an operator can tell
//     the remote side why; they never carry a correspondent's address.
package trust
