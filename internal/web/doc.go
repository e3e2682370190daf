// Package web is the secure webmail: login with a password and an e-mailed
// code, folders, message list, reading pane, compose, reply and forward,
// search, drafts and shared mailboxes; with Options.Directory, the
// directory of health professionals ("Annuaires"), its JSON API under
// /api/directory/, favourites, and each person's entry in it. Pages are
// rendered on the server with html/template and enhanced by a few plain ES
// modules; every static file is embedded.
//
// Rules a change must keep:
//   - The web door only translates: every decision about mail (rights,
//     delivery, flags, folders) is the core's.
//   - No inline script anywhere; the CSP forbids it. Message HTML is
//     sanitised, then shown in a sandboxed iframe under its own CSP, with
//     remote images blocked until the reader asks.
//   - Login errors never say whether an account exists.
//   - Health data (subjects, bodies, addresses of correspondents, file
//     names) never goes into logs.
//   - Only a click on "Envoyer" sends: Enter in a recipient field completes
//     the address and Enter in the subject moves on (static/compose.js),
//     and a message with no subject or no text is sent only once the
//     in-page confirmation says so (TestComposeKeys).
//   - The directory's JSON API and pages need a session like every page;
//     its changes (favourites) are POST or DELETE, under the same
//     cross-origin protection as the forms.
package web
