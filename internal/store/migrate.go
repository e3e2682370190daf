package store

import (
	"context"
	"database/sql"
	"errors"
	"fmt"
	"strings"
)

// migration is one schema step: common SQL for both engines, then what each
// engine needs of its own.
type migration struct{ common, sqlite, postgres string }

// migrations are applied in order, each once; a database records how many it has
// seen in schema_version. Append, never edit: nodes in a cluster may run older code.
// {{id}} and {{bytes}} stand for the engine's auto-increment key and binary type;
// {{bytewise}} after a column's type makes it compare byte by byte on PostgreSQL
// (COLLATE "C", for columns read by range), which SQLite does anyway.
var migrations = []migration{
	{common: `
CREATE TABLE domains (
	id {{id}},
	name TEXT NOT NULL UNIQUE,
	created BIGINT NOT NULL
);
CREATE TABLE accounts (
	id {{id}},
	address TEXT NOT NULL UNIQUE,
	name TEXT NOT NULL,
	notify_email TEXT NOT NULL DEFAULT '',
	national_id TEXT NOT NULL DEFAULT '',
	password_hash TEXT NOT NULL DEFAULT '',
	disabled INTEGER NOT NULL DEFAULT 0,
	created BIGINT NOT NULL
);
CREATE INDEX accounts_national_id ON accounts(national_id);
CREATE TABLE mailboxes (
	id {{id}},
	address TEXT NOT NULL UNIQUE,
	kind TEXT NOT NULL,
	name TEXT NOT NULL,
	owner_id BIGINT REFERENCES accounts(id),
	quota_bytes BIGINT NOT NULL DEFAULT 0,
	used_bytes BIGINT NOT NULL DEFAULT 0,
	created BIGINT NOT NULL
);
CREATE INDEX mailboxes_owner ON mailboxes(owner_id);
CREATE TABLE rights (
	mailbox_id BIGINT NOT NULL REFERENCES mailboxes(id) ON DELETE CASCADE,
	account_id BIGINT NOT NULL REFERENCES accounts(id) ON DELETE CASCADE,
	rights BIGINT NOT NULL,
	PRIMARY KEY (mailbox_id, account_id)
);
CREATE INDEX rights_account ON rights(account_id);
CREATE TABLE folders (
	id {{id}},
	mailbox_id BIGINT NOT NULL REFERENCES mailboxes(id) ON DELETE CASCADE,
	name TEXT NOT NULL,
	special_use TEXT NOT NULL DEFAULT '',
	uidvalidity BIGINT NOT NULL,
	uidnext BIGINT NOT NULL DEFAULT 1,
	highest_modseq BIGINT NOT NULL DEFAULT 1,
	messages BIGINT NOT NULL DEFAULT 0,
	unseen BIGINT NOT NULL DEFAULT 0,
	bytes BIGINT NOT NULL DEFAULT 0,
	subscribed INTEGER NOT NULL DEFAULT 1,
	created BIGINT NOT NULL,
	UNIQUE (mailbox_id, name)
);
CREATE TABLE blobs (
	id {{id}},
	segment BIGINT NOT NULL,
	offset_bytes BIGINT NOT NULL,
	length BIGINT NOT NULL,
	size BIGINT NOT NULL,
	refs BIGINT NOT NULL,
	created BIGINT NOT NULL
);
CREATE TABLE messages (
	id {{id}},
	folder_id BIGINT NOT NULL REFERENCES folders(id) ON DELETE CASCADE,
	uid BIGINT NOT NULL,
	modseq BIGINT NOT NULL,
	flags BIGINT NOT NULL DEFAULT 0,
	keywords TEXT NOT NULL DEFAULT '',
	internal_date BIGINT NOT NULL,
	size BIGINT NOT NULL,
	blob_id BIGINT NOT NULL REFERENCES blobs(id),
	thread_id BIGINT NOT NULL DEFAULT 0,
	message_id TEXT NOT NULL DEFAULT '',
	in_reply_to TEXT NOT NULL DEFAULT '',
	refs TEXT NOT NULL DEFAULT '',
	sent_date BIGINT NOT NULL DEFAULT 0,
	subject TEXT NOT NULL DEFAULT '',
	from_addr TEXT NOT NULL DEFAULT '',
	to_addrs TEXT NOT NULL DEFAULT '',
	cc_addrs TEXT NOT NULL DEFAULT '',
	attachments TEXT NOT NULL DEFAULT '',
	has_attachments INTEGER NOT NULL DEFAULT 0,
	UNIQUE (folder_id, uid)
);
CREATE INDEX messages_folder_modseq ON messages(folder_id, modseq);
CREATE INDEX messages_folder_date ON messages(folder_id, internal_date);
CREATE INDEX messages_message_id ON messages(message_id);
CREATE INDEX messages_thread ON messages(thread_id);
CREATE TABLE expunged (
	folder_id BIGINT NOT NULL REFERENCES folders(id) ON DELETE CASCADE,
	uid BIGINT NOT NULL,
	modseq BIGINT NOT NULL,
	PRIMARY KEY (folder_id, uid)
);
CREATE INDEX expunged_modseq ON expunged(folder_id, modseq);
CREATE TABLE audit (
	id {{id}},
	at BIGINT NOT NULL,
	actor TEXT NOT NULL,
	door TEXT NOT NULL,
	remote TEXT NOT NULL,
	action TEXT NOT NULL,
	target TEXT NOT NULL,
	result TEXT NOT NULL,
	detail TEXT NOT NULL,
	hash TEXT NOT NULL
);
CREATE INDEX audit_at ON audit(at);
CREATE TABLE outbound (
	id {{id}},
	blob_id BIGINT NOT NULL REFERENCES blobs(id),
	mailbox_id BIGINT REFERENCES mailboxes(id) ON DELETE SET NULL,
	mail_from TEXT NOT NULL,
	rcpt TEXT NOT NULL,
	envid TEXT NOT NULL DEFAULT '',
	notify TEXT NOT NULL DEFAULT '',
	ret TEXT NOT NULL DEFAULT '',
	created BIGINT NOT NULL,
	next_attempt BIGINT NOT NULL,
	expires BIGINT NOT NULL,
	attempts BIGINT NOT NULL DEFAULT 0,
	last_error TEXT NOT NULL DEFAULT '',
	lease_until BIGINT NOT NULL DEFAULT 0
);
CREATE INDEX outbound_due ON outbound(next_attempt);
`},
	// The search index: one row per blob (copies share it), holding only the
	// index, not the text, where the engine allows.
	{
		sqlite: `
CREATE VIRTUAL TABLE blob_text USING fts5(subject, addrs, attachments, body, content='', contentless_delete=1, tokenize='unicode61 remove_diacritics 2');
`,
		postgres: `
CREATE TABLE blob_text (blob_id BIGINT PRIMARY KEY, tsv tsvector NOT NULL);
CREATE INDEX blob_text_tsv ON blob_text USING GIN (tsv);
`,
	},
	// Search joins messages to matching blobs; check and reference counts
	// look messages and queue entries up by blob.
	{common: `
CREATE INDEX messages_blob ON messages(blob_id);
CREATE INDEX outbound_blob ON outbound(blob_id);
`},
	// Messages flagged \Deleted, counted per folder for STATUS DELETED.
	{common: `
ALTER TABLE folders ADD COLUMN deleted BIGINT NOT NULL DEFAULT 0;
`},
	// Compaction lists and counts the blobs of one segment at a time.
	{common: `
CREATE INDEX blobs_segment ON blobs(segment, refs);
`},
	// The hash of the last audit entry pruned: the chain of what is kept
	// starts from it.
	{common: `
CREATE TABLE audit_anchor (last_id BIGINT NOT NULL, hash TEXT NOT NULL);
`},
	// DKIM signing keys (RFC 6376), sealed under a secret derived from the
	// master key; the newest key of a domain signs.
	{common: `
CREATE TABLE dkim_keys (
	id {{id}},
	domain TEXT NOT NULL,
	selector TEXT NOT NULL,
	sealed {{bytes}} NOT NULL,
	created BIGINT NOT NULL,
	UNIQUE (domain, selector)
);
`},
	// The tables that internal/auth (sessions, login codes), internal/directory
	// (state, local entries, favourites) and the web app (signatures, directory
	// profiles) used to create themselves. IF NOT EXISTS: a database where they
	// did so upgrades in place, its tables and rows unchanged. The directory's
	// national data stays in per-generation tables it builds itself.
	{common: `
CREATE TABLE IF NOT EXISTS auth_sessions (
	id TEXT PRIMARY KEY,
	account TEXT NOT NULL,
	pending INTEGER NOT NULL,
	created BIGINT NOT NULL,
	seen BIGINT NOT NULL,
	remote TEXT NOT NULL
);
CREATE INDEX IF NOT EXISTS auth_sessions_account ON auth_sessions (account);
CREATE TABLE IF NOT EXISTS auth_codes (
	code_key TEXT PRIMARY KEY,
	hash TEXT NOT NULL,
	salt TEXT NOT NULL,
	created BIGINT NOT NULL,
	expires BIGINT NOT NULL,
	tries INTEGER NOT NULL
);
CREATE TABLE IF NOT EXISTS directory_state (
	id INTEGER PRIMARY KEY,
	generation BIGINT NOT NULL,
	previous BIGINT NOT NULL,
	switched BIGINT NOT NULL,
	entries BIGINT NOT NULL,
	local_version BIGINT NOT NULL
);
INSERT INTO directory_state (id, generation, previous, switched, entries, local_version)
	SELECT 1, 0, 0, 0, 0, 0 WHERE NOT EXISTS (SELECT 1 FROM directory_state);
CREATE TABLE IF NOT EXISTS directory_local (
	key TEXT PRIMARY KEY,
	listed INTEGER NOT NULL,
	national_id TEXT NOT NULL,
	civility TEXT NOT NULL,
	last_name TEXT NOT NULL,
	first_name TEXT NOT NULL,
	profession TEXT NOT NULL,
	profession_label TEXT NOT NULL,
	specialty TEXT NOT NULL,
	specialty_label TEXT NOT NULL,
	organisation TEXT NOT NULL,
	service TEXT NOT NULL,
	address TEXT NOT NULL,
	postcode TEXT{{bytewise}} NOT NULL,
	city TEXT NOT NULL,
	department TEXT NOT NULL,
	mailbox TEXT{{bytewise}} NOT NULL,
	kind TEXT NOT NULL,
	demat INTEGER NOT NULL,
	city_key TEXT NOT NULL,
	toks TEXT NOT NULL,
	names TEXT NOT NULL,
	updated BIGINT NOT NULL
);
CREATE INDEX IF NOT EXISTS directory_local_mailbox ON directory_local(mailbox);
CREATE TABLE IF NOT EXISTS directory_favourite (
	account_id BIGINT NOT NULL,
	entry_id TEXT NOT NULL,
	created BIGINT NOT NULL,
	PRIMARY KEY (account_id, entry_id)
);
CREATE TABLE IF NOT EXISTS web_signatures (
	id TEXT PRIMARY KEY,
	account_id BIGINT NOT NULL,
	name TEXT NOT NULL,
	body TEXT NOT NULL,
	created BIGINT NOT NULL
);
CREATE INDEX IF NOT EXISTS web_signatures_account ON web_signatures (account_id);
CREATE TABLE IF NOT EXISTS web_directory_profiles (
	account_id BIGINT PRIMARY KEY,
	listed INTEGER NOT NULL,
	dematerialised INTEGER NOT NULL,
	profession TEXT NOT NULL,
	specialty TEXT NOT NULL,
	organisation TEXT NOT NULL,
	city TEXT NOT NULL,
	postcode TEXT NOT NULL
);
`},
	// Ways into an account beside the password: a TOTP secret (sealed with
	// the node's key), recovery codes (keyed hashes), linked CPx cards, Pro
	// Santé Connect links and passkeys; short-lived login flows (OIDC state,
	// WebAuthn challenges, links waiting for a second factor); the device
	// and method of each web session.
	{common: `
CREATE TABLE auth_totp (
	account_id BIGINT PRIMARY KEY REFERENCES accounts(id) ON DELETE CASCADE,
	sealed TEXT NOT NULL,
	confirmed INTEGER NOT NULL DEFAULT 0,
	last_step BIGINT NOT NULL DEFAULT 0,
	created BIGINT NOT NULL
);
CREATE TABLE auth_recovery (
	account_id BIGINT NOT NULL REFERENCES accounts(id) ON DELETE CASCADE,
	hash TEXT NOT NULL,
	PRIMARY KEY (account_id, hash)
);
CREATE TABLE auth_cards (
	id {{id}},
	account_id BIGINT NOT NULL REFERENCES accounts(id) ON DELETE CASCADE,
	fingerprint TEXT NOT NULL UNIQUE,
	issuer TEXT NOT NULL,
	serial TEXT NOT NULL,
	national_id TEXT NOT NULL,
	not_after BIGINT NOT NULL,
	created BIGINT NOT NULL,
	last_used BIGINT NOT NULL DEFAULT 0
);
CREATE INDEX auth_cards_account ON auth_cards(account_id);
CREATE TABLE auth_psc (
	id {{id}},
	account_id BIGINT NOT NULL REFERENCES accounts(id) ON DELETE CASCADE,
	subject TEXT NOT NULL UNIQUE,
	name TEXT NOT NULL,
	created BIGINT NOT NULL,
	last_used BIGINT NOT NULL DEFAULT 0
);
CREATE INDEX auth_psc_account ON auth_psc(account_id);
CREATE TABLE auth_passkeys (
	id {{id}},
	account_id BIGINT NOT NULL REFERENCES accounts(id) ON DELETE CASCADE,
	credential_id TEXT NOT NULL UNIQUE,
	name TEXT NOT NULL,
	credential TEXT NOT NULL,
	created BIGINT NOT NULL,
	last_used BIGINT NOT NULL DEFAULT 0
);
CREATE INDEX auth_passkeys_account ON auth_passkeys(account_id);
CREATE TABLE auth_flows (
	id TEXT PRIMARY KEY,
	kind TEXT NOT NULL,
	data TEXT NOT NULL,
	expires BIGINT NOT NULL
);
CREATE INDEX auth_flows_expires ON auth_flows(expires);
CREATE TABLE auth_session_devices (
	session_id TEXT PRIMARY KEY,
	account TEXT NOT NULL,
	user_agent TEXT NOT NULL,
	method TEXT NOT NULL
);
CREATE INDEX auth_session_devices_account ON auth_session_devices(account);
`},
	// The message model of a blob (internal/message, its stored form),
	// computed at delivery and at APPEND; NULL until the background
	// migration computes it for a blob stored before.
	{common: `
ALTER TABLE blobs ADD COLUMN model {{bytes}};
`},
	// New-mail notifications: each person's setting per mailbox, and what
	// is waiting to be told (shared by every node, so the one-mail-per-five-
	// minutes rule holds across a cluster).
	{common: `
CREATE TABLE notify_prefs (
	mailbox_id BIGINT NOT NULL REFERENCES mailboxes(id) ON DELETE CASCADE,
	account_id BIGINT NOT NULL REFERENCES accounts(id) ON DELETE CASCADE,
	mode TEXT NOT NULL,
	every_minutes BIGINT NOT NULL,
	PRIMARY KEY (mailbox_id, account_id)
);
CREATE TABLE notify_state (
	mailbox_id BIGINT NOT NULL REFERENCES mailboxes(id) ON DELETE CASCADE,
	account_id BIGINT NOT NULL REFERENCES accounts(id) ON DELETE CASCADE,
	pending BIGINT NOT NULL DEFAULT 0,
	first_pending BIGINT NOT NULL DEFAULT 0,
	last_message BIGINT NOT NULL DEFAULT 0,
	last_sent BIGINT NOT NULL DEFAULT 0,
	PRIMARY KEY (mailbox_id, account_id)
);
`},
	// The highest UID of each folder already given as \Recent to an IMAP
	// session (RFC 3501 §2.3.2): a message is recent in the one session that
	// claims it first. Messages already there are not recent.
	{common: `
ALTER TABLE folders ADD COLUMN recent_uid BIGINT NOT NULL DEFAULT 0;
UPDATE folders SET recent_uid = uidnext - 1;
`},
	// Roles beyond one's own mail: the managers of a domain.
	{common: `
CREATE TABLE roles (
	account_id BIGINT NOT NULL REFERENCES accounts(id) ON DELETE CASCADE,
	domain TEXT NOT NULL,
	role TEXT NOT NULL,
	PRIMARY KEY (account_id, domain)
);
`},
	// Receipts: what became of each recipient of a message sent (sent,
	// relayed, delivered, read, deleted, failed), from the queue, DSNs and
	// MDNs; the queue remembers each entry's Message-ID; a mailbox's policy
	// for read receipts (ask, always, never).
	{common: `
CREATE TABLE receipts (
	id {{id}},
	mailbox_id BIGINT NOT NULL REFERENCES mailboxes(id) ON DELETE CASCADE,
	message_id TEXT NOT NULL,
	rcpt TEXT NOT NULL,
	state TEXT NOT NULL,
	detail TEXT NOT NULL DEFAULT '',
	updated BIGINT NOT NULL,
	UNIQUE (mailbox_id, message_id, rcpt)
);
ALTER TABLE outbound ADD COLUMN message_id TEXT NOT NULL DEFAULT '';
ALTER TABLE mailboxes ADD COLUMN mdn_policy TEXT NOT NULL DEFAULT 'ask';
`},
	// External recipients: a message kept here for someone outside the
	// trust space, read through a link that a one-time code opens.
	{common: `
CREATE TABLE external_links (
	id {{id}},
	token_hash TEXT NOT NULL UNIQUE,
	mailbox_id BIGINT NOT NULL REFERENCES mailboxes(id) ON DELETE CASCADE,
	blob_id BIGINT NOT NULL REFERENCES blobs(id),
	message_id TEXT NOT NULL,
	rcpt TEXT NOT NULL,
	created BIGINT NOT NULL,
	expires BIGINT NOT NULL,
	failures BIGINT NOT NULL DEFAULT 0,
	locked INTEGER NOT NULL DEFAULT 0,
	code_hash TEXT NOT NULL DEFAULT '',
	code_expires BIGINT NOT NULL DEFAULT 0,
	session_hash TEXT NOT NULL DEFAULT '',
	session_expires BIGINT NOT NULL DEFAULT 0,
	opened BIGINT NOT NULL DEFAULT 0
);
CREATE INDEX external_links_expires ON external_links(expires);
CREATE INDEX external_links_blob ON external_links(blob_id);
`},
	// Devices (phones, mail clients) that log in to IMAP and submission with
	// a credential of their own, kept as a keyed SHA-256; client certificates
	// pinned to a mailbox (an application's) for SASL EXTERNAL; revoked
	// credentials, which nodes and operator commands sharing a SQLite file
	// read to close the connections of one at once.
	{common: `
CREATE TABLE devices (
	id {{id}},
	account_id BIGINT NOT NULL REFERENCES accounts(id) ON DELETE CASCADE,
	name TEXT NOT NULL,
	token_hash TEXT NOT NULL UNIQUE,
	created BIGINT NOT NULL,
	last_used BIGINT NOT NULL DEFAULT 0,
	last_remote TEXT NOT NULL DEFAULT ''
);
CREATE INDEX devices_account ON devices(account_id);
CREATE TABLE mailbox_certs (
	fingerprint TEXT PRIMARY KEY,
	mailbox_id BIGINT NOT NULL REFERENCES mailboxes(id) ON DELETE CASCADE,
	account_id BIGINT NOT NULL REFERENCES accounts(id) ON DELETE CASCADE,
	subject TEXT NOT NULL,
	not_after BIGINT NOT NULL,
	created BIGINT NOT NULL,
	last_used BIGINT NOT NULL DEFAULT 0
);
CREATE INDEX mailbox_certs_mailbox ON mailbox_certs(mailbox_id);
CREATE TABLE revocations (
	id {{id}},
	node TEXT NOT NULL,
	credential TEXT NOT NULL,
	at BIGINT NOT NULL
);
`},
	// The substring index IMAP SEARCH TEXT and BODY need (RFC 9051 §6.4.4:
	// "contain the specified string", not a word): a blob's whole header
	// and its text, folded, by trigrams. Models are computed again, so
	// that the background migration fills it for the blobs stored before.
	{
		sqlite: `
CREATE VIRTUAL TABLE blob_grams USING fts5(head, body, content='', contentless_delete=1, tokenize='trigram');
UPDATE blobs SET model = NULL;
`,
		postgres: `
CREATE EXTENSION IF NOT EXISTS pg_trgm;
CREATE TABLE blob_grams (blob_id BIGINT PRIMARY KEY, head TEXT NOT NULL, body TEXT NOT NULL);
CREATE INDEX blob_grams_head ON blob_grams USING GIN (head gin_trgm_ops);
CREATE INDEX blob_grams_body ON blob_grams USING GIN (body gin_trgm_ops);
UPDATE blobs SET model = NULL;
`,
	},
	// Sieve filters (RFC 5228, managed over RFC 5804): each mailbox's
	// scripts, at most one active; the auto-reply settings the web page
	// edits, run as a vacation script (RFC 5230); and when each sender was
	// last answered, for the once-per-period rule (RFC 5230 §4.2).
	{common: `
CREATE TABLE sieve_scripts (
	mailbox_id BIGINT NOT NULL REFERENCES mailboxes(id) ON DELETE CASCADE,
	name TEXT NOT NULL,
	content TEXT NOT NULL,
	active INTEGER NOT NULL DEFAULT 0,
	updated BIGINT NOT NULL,
	PRIMARY KEY (mailbox_id, name)
);
CREATE TABLE sieve_vacation (
	mailbox_id BIGINT PRIMARY KEY REFERENCES mailboxes(id) ON DELETE CASCADE,
	enabled INTEGER NOT NULL,
	starts BIGINT NOT NULL,
	ends BIGINT NOT NULL,
	subject TEXT NOT NULL,
	body TEXT NOT NULL,
	days BIGINT NOT NULL,
	updated BIGINT NOT NULL
);
CREATE TABLE sieve_replies (
	mailbox_id BIGINT NOT NULL REFERENCES mailboxes(id) ON DELETE CASCADE,
	handle TEXT NOT NULL,
	sender TEXT NOT NULL,
	sent BIGINT NOT NULL,
	PRIMARY KEY (mailbox_id, handle, sender)
);
`},
	// Failed logins counted per account and per network address, for a
	// cluster on PostgreSQL, whose nodes share them (a node alone counts in
	// memory).
	{common: `
CREATE TABLE login_strikes (
	key TEXT PRIMARY KEY,
	failures BIGINT NOT NULL,
	last_failure BIGINT NOT NULL,
	locked_until BIGINT NOT NULL
);
`},
	// Who manages the accounts of a domain, as "Vos informations
	// Gestionnaire" shows them (user guide F15): set by the operators.
	{common: `
CREATE TABLE domain_managers (
	domain TEXT PRIMARY KEY,
	name TEXT NOT NULL,
	address TEXT NOT NULL,
	phone TEXT NOT NULL,
	updated BIGINT NOT NULL
);
`},
	// How far `caduceus migrate` has copied each table into this database
	// (the key of the last row copied), committed with each batch so that a
	// killed run goes on where it stopped; the row named "source" says which
	// installation is being copied, so that two are never mixed.
	{common: `
CREATE TABLE migrate_progress (
	name TEXT PRIMARY KEY,
	last_key TEXT NOT NULL,
	rows BIGINT NOT NULL,
	done INTEGER NOT NULL DEFAULT 0
);
`},
	// Web Push (RFC 8030, 8291, 8292): the installation's VAPID key pair,
	// the private half sealed under a secret derived from the master key,
	// made once and shared by every node; and each person's browsers that
	// asked to be told of new mail, one row per push endpoint.
	{common: `
CREATE TABLE push_vapid (
	id INTEGER PRIMARY KEY,
	public_key TEXT NOT NULL,
	sealed {{bytes}} NOT NULL,
	created BIGINT NOT NULL
);
CREATE TABLE push_subscriptions (
	id {{id}},
	account_id BIGINT NOT NULL REFERENCES accounts(id) ON DELETE CASCADE,
	endpoint TEXT NOT NULL UNIQUE,
	p256dh TEXT NOT NULL,
	auth TEXT NOT NULL,
	lang TEXT NOT NULL,
	created BIGINT NOT NULL
);
CREATE INDEX push_subscriptions_account ON push_subscriptions(account_id);
`},
	// Who handled a message of a shared mailbox (issue 12 item 7): a
	// member replied to it or forwarded it from the mailbox, or moved it;
	// by its Message-ID, which a move keeps.
	{common: `
CREATE TABLE handled (
	id {{id}},
	mailbox_id BIGINT NOT NULL REFERENCES mailboxes(id) ON DELETE CASCADE,
	message_id TEXT NOT NULL,
	actor TEXT NOT NULL,
	action TEXT NOT NULL,
	detail TEXT NOT NULL,
	at BIGINT NOT NULL
);
CREATE INDEX handled_message ON handled(mailbox_id, message_id);
`},
	// The accounts whose password a manager reset: their owner must choose
	// a new one at their next web login.
	{common: `
CREATE TABLE password_resets (
	account_id BIGINT PRIMARY KEY REFERENCES accounts(id) ON DELETE CASCADE,
	at BIGINT NOT NULL
);
`},
	// Signatures (issue 12 item 3): the HTML form beside the text (empty
	// for a plain-text one), the mailbox a signature is for (0: every
	// mailbox the person sends from), and the one per mailbox that new
	// messages get.
	{common: `
ALTER TABLE web_signatures ADD COLUMN html TEXT NOT NULL DEFAULT '';
ALTER TABLE web_signatures ADD COLUMN mailbox_id BIGINT NOT NULL DEFAULT 0;
ALTER TABLE web_signatures ADD COLUMN is_default INTEGER NOT NULL DEFAULT 0;
`},
}

func (s *Store) migrate(ctx context.Context) error { return s.migrateTo(ctx, len(migrations)) }

// migrateTo applies the migrations up to version n.
func (s *Store) migrateTo(ctx context.Context, n int) error {
	conn, err := s.wdb.Conn(ctx)
	if err != nil {
		return err
	}
	defer conn.Close()
	if s.dialect == Postgres {
		// One node migrates at a time; the others wait and find nothing to do.
		if _, err := conn.ExecContext(ctx, `SELECT pg_advisory_lock(7243001)`); err != nil {
			return fmt.Errorf("lock: %w", err)
		}
		defer conn.ExecContext(context.WithoutCancel(ctx), `SELECT pg_advisory_unlock(7243001)`)
	}
	if _, err := conn.ExecContext(ctx, `CREATE TABLE IF NOT EXISTS schema_version (version BIGINT NOT NULL)`); err != nil {
		return fmt.Errorf("create schema_version: %w", err)
	}
	var version int
	err = conn.QueryRowContext(ctx, `SELECT version FROM schema_version`).Scan(&version)
	switch {
	case errors.Is(err, sql.ErrNoRows):
		if _, err := conn.ExecContext(ctx, `INSERT INTO schema_version (version) VALUES (0)`); err != nil {
			return fmt.Errorf("init schema_version: %w", err)
		}
	case err != nil:
		return fmt.Errorf("read schema_version: %w", err)
	}
	for i := version; i < n; i++ {
		if err := s.apply(ctx, conn, i); err != nil {
			return fmt.Errorf("migration %d: %w", i+1, err)
		}
	}
	return nil
}

func (s *Store) apply(ctx context.Context, conn *sql.Conn, i int) error {
	tx, err := conn.BeginTx(ctx, nil)
	if err != nil {
		return err
	}
	m := migrations[i]
	sql := m.common + m.sqlite
	if s.dialect == Postgres {
		sql = m.common + m.postgres
	}
	for _, stmt := range strings.Split(s.expand(sql), ";\n") {
		if strings.TrimSpace(stmt) == "" {
			continue
		}
		if _, err := tx.ExecContext(ctx, stmt); err != nil {
			return errors.Join(fmt.Errorf("%s: %w", firstLine(stmt), err), rollback(tx))
		}
	}
	if _, err := tx.ExecContext(ctx, rebind(s.dialect, `UPDATE schema_version SET version = ?`), i+1); err != nil {
		return errors.Join(err, rollback(tx))
	}
	return tx.Commit()
}

func (s *Store) expand(q string) string {
	if s.dialect == Postgres {
		return strings.NewReplacer("{{id}}", "BIGINT GENERATED BY DEFAULT AS IDENTITY PRIMARY KEY", "{{bytes}}", "BYTEA",
			"{{bytewise}}", ` COLLATE "C"`).Replace(q)
	}
	return strings.NewReplacer("{{id}}", "INTEGER PRIMARY KEY AUTOINCREMENT", "{{bytes}}", "BLOB", "{{bytewise}}", "").Replace(q)
}

func firstLine(s string) string {
	s = strings.TrimSpace(s)
	if i := strings.IndexByte(s, '\n'); i >= 0 {
		return s[:i]
	}
	return s
}
