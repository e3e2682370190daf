// Package directory is the directory of health professionals: the national
// extraction files of the Annuaire Santé (PS_LibreAcces) and of the MSSanté
// mailboxes, the local accounts and organisational mailboxes of this server, the
// search over all of them, and each account's favourites.
//
// # Data
//
// The national data lives in generations. An import reads the published files
// into a new generation, built apart from the one that answers searches: a
// separate SQLite file under the data directory when the store is SQLite, a set of
// tables named directory_g<N>_* when it is PostgreSQL. Only when the new
// generation is complete does one UPDATE of the directory_state row make it
// current; searches that started earlier finish on the old one, which is kept
// until the next import. A failed or interrupted import leaves the current
// generation untouched.
//
// Local entries (UpsertLocal) and favourites live in ordinary tables of the store,
// created by its migrations, and are never replaced by an import. A local entry that is not listed (liste
// rouge) also hides the national entry with the same mailbox address.
//
// # Entries
//
// Each MSSanté mailbox is one entry. A practitioner of PS_LibreAcces without an
// MSSanté personal mailbox is one entry per place of activity. Entry ids are
// stable across imports: "m:" and the mailbox address, "p:" with the national id
// and the structure, "l:" with the key of a local entry.
//
// # Rules a change must keep
//
//   - No personal data in logs or errors: messages about input name a file, a
//     line number and a reason, never a value read from the line.
//   - Memory stays bounded during an import whatever the input: lines are read
//     through a fixed buffer, rows are streamed to the database, and only the
//     first rejections are kept with their details.
//   - Names are compared folded (see fold): lower case, no accents, punctuation
//     as spaces. The same folding builds the index and reads the query.
package directory
