// Package core owns Caduceus's rules: who may read or write which mailbox (owner,
// delegate, member of an organisational mailbox), how a message is delivered,
// flagged, moved, expunged and submitted, and what is traced. SMTP, IMAP, the web app
// and the command line are doors that translate a protocol into calls on Service;
// none of them touches the store or the blobs directly.
//
// Invariants every change keeps:
//   - Nothing is acknowledged before it is durable: a delivery returns only after its
//     blob is fsynced and its metadata transaction committed. Concurrent deliveries
//     are batched into one sync and one commit (group commit), never skipped.
//   - Every change to a folder takes a new MODSEQ in the same transaction, and an
//     expunge leaves a row in expunged, so IMAP CONDSTORE/QRESYNC and the web app can
//     resynchronise from any MODSEQ they knew.
//   - Watchers are told of changes after the commit, never before.
//   - Every action of a person is checked against the rights they hold on the
//     mailbox, here and nowhere else, and written to the audit trail (who, how, what,
//     result; never content, subjects or correspondents' addresses).
package core

import (
	"context"
	"crypto/rand"
	"errors"
	"fmt"
	"log/slog"
	"runtime"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"caduceus/internal/audit"
	"caduceus/internal/blob"
	"caduceus/internal/store"
)

// Options configures a Service.
type Options struct {
	Store *store.Store
	Blobs *blob.Store
	// Hostname names this server in Message-IDs and Received headers.
	Hostname string
	// MessageSizeLimit is the largest message accepted, in bytes.
	MessageSizeLimit int64
	// DefaultQuota is the quota of a new mailbox in bytes; 0 means none.
	DefaultQuota int64
	// QueueExpire is how long outbound mail is retried before a failure notice.
	QueueExpire time.Duration
	Logger      *slog.Logger
	// DKIMSecret (32 bytes) seals the DKIM signing keys in the store; nil
	// leaves outgoing mail unsigned. Every node of a cluster derives the
	// same one from the master key.
	DKIMSecret []byte
	// PushSecret (32 bytes) seals the installation's VAPID key (Web Push)
	// in the store; nil leaves Web Push off. Every node derives the same
	// one from the master key.
	PushSecret []byte
	// NIL is the value of X-MSS-NIL on every message sent: the software's
	// reference from its declaration on convergence.esante.gouv.fr
	// (Référentiel #2 ECO.2.4.3); empty leaves the header out.
	NIL string
	// INSOIDs are the OIDs of a qualified INS in a CDA header; nil means
	// xdm.DefaultINSOIDs.
	INSOIDs []string
	// PatientDomain is the domain of patients' mailboxes (Mon Espace
	// Santé); empty means DefaultPatientDomain.
	PatientDomain string
	// LinkLifetime is how long an external recipient's link works; 0
	// means DefaultLinkLifetime (30 days).
	LinkLifetime time.Duration
	// Now returns the current time; nil means time.Now.
	Now func() time.Time
	// RemotePolicy, when set, decides which remote recipients a submission
	// may be queued for (the MSSanté whitelist in trust mode); nil allows any.
	RemotePolicy RemotePolicy

	// AccountPasswordForMail lets IMAP and SMTP submission accept the bare
	// account password ([auth] account_password_for_mail); when false, mail
	// clients log in with a device credential, a pinned certificate or a Pro
	// Santé Connect token.
	AccountPasswordForMail bool
	// DeviceKey keys the hashes of device credentials; the same on every
	// node. Empty means a random key (tests): credentials then last as long
	// as the process.
	DeviceKey []byte
	// Bearer verifies Pro Santé Connect access tokens (OAUTHBEARER,
	// XOAUTH2); nil refuses them.
	Bearer BearerVerifier
	// LoginPolicy bounds guessing; the zero value means DefaultLoginPolicy.
	LoginPolicy LoginPolicy
	// SupportAddress is where "Vos informations Gestionnaire" writes to
	// the support ([support] address); empty offers no support address.
	SupportAddress string
}

// RemotePolicy decides whether mail may be sent to a remote recipient.
type RemotePolicy interface {
	// AllowRemote returns nil when the actor may send to rcpt, a remote
	// address; otherwise an error that says why, safe to show the sender
	// (it names the domain, never the message). The core wraps it in
	// ErrUntrusted. The external-recipient path (a patient or a professional
	// outside the trust space, reached through a secure link) decides here.
	AllowRemote(ctx context.Context, actor Actor, rcpt string) error
}

// Service is the core of one Caduceus node.
type Service struct {
	st     *store.Store
	blobs  *blob.Store
	opts   Options
	log    *slog.Logger
	now    func() time.Time
	events *broker
	commit *committer
	audit  *audit.Trail
	dkim   dkimKeys

	queueSignal chan struct{}
	logins      *logins
	hashing     chan struct{} // slots for password checks
	revoked     *revocations
	background  sync.WaitGroup // lockout notices being sent

	// modelFallbacks counts the models parsed on the fly, for messages
	// the background migration has not reached yet.
	modelFallbacks atomic.Int64

	node      string // this node's id in cluster events
	listening atomic.Bool
	stopRelay context.CancelFunc
	relayDone chan struct{}

	arrivalsMu sync.Mutex
	arrivals   []func(Arrival)
}

// New starts a Service over an open store and blob store. Close stops it.
func New(ctx context.Context, opts Options) (*Service, error) {
	if opts.Store == nil || opts.Blobs == nil {
		return nil, errors.New("core: store and blobs are required")
	}
	if opts.Hostname == "" {
		return nil, errors.New("core: hostname is required")
	}
	if opts.MessageSizeLimit == 0 {
		opts.MessageSizeLimit = 50 << 20
	}
	if opts.QueueExpire == 0 {
		opts.QueueExpire = 5 * 24 * time.Hour
	}
	if opts.Logger == nil {
		opts.Logger = slog.New(slog.DiscardHandler)
	}
	if opts.Now == nil {
		opts.Now = time.Now
	}
	if opts.LoginPolicy == (LoginPolicy{}) {
		opts.LoginPolicy = DefaultLoginPolicy()
	}
	if len(opts.DeviceKey) == 0 {
		opts.DeviceKey = make([]byte, 32)
		if _, err := rand.Read(opts.DeviceKey); err != nil {
			return nil, fmt.Errorf("core: device key: %w", err)
		}
	}
	s := &Service{
		st:     opts.Store,
		blobs:  opts.Blobs,
		opts:   opts,
		log:    opts.Logger,
		now:    opts.Now,
		events: newBroker(),
		audit:  audit.New(opts.Store),

		queueSignal: make(chan struct{}, 1),
		logins:      newLogins(opts.LoginPolicy, newStrikes(opts.Store, opts.LoginPolicy.Window, opts.Now)),
		revoked:     newRevocations(),
		hashing:     make(chan struct{}, 2*runtime.NumCPU()),
		node:        newNodeID(),
		relayDone:   make(chan struct{}),
	}
	s.commit = newCommitter(s)
	rctx, cancel := context.WithCancel(context.WithoutCancel(ctx))
	s.stopRelay = cancel
	if s.st.Dialect() == store.Postgres {
		go func() {
			defer close(s.relayDone)
			s.relayEvents(rctx)
		}()
	} else {
		go func() {
			defer close(s.relayDone)
			s.pollRevocations(rctx)
		}()
	}
	return s, nil
}

// Close stops the group committer after the deliveries in flight are committed.
func (s *Service) Close() error {
	s.background.Wait()
	s.commit.stop()
	s.stopRelay()
	<-s.relayDone
	return nil
}

// Hostname is the name this server gives itself.
func (s *Service) Hostname() string { return s.opts.Hostname }

// MessageSizeLimit is the largest message any door may accept, in bytes.
func (s *Service) MessageSizeLimit() int64 { return s.opts.MessageSizeLimit }

// Ready reports whether the node can serve: its metadata store answers a
// query and its blob store can take new messages.
func (s *Service) Ready(ctx context.Context) error {
	var one int
	if err := s.st.QueryRow(ctx, `SELECT 1`).Scan(&one); err != nil {
		return fmt.Errorf("metadata store: %w", err)
	}
	if err := s.blobs.Ping(); err != nil {
		return fmt.Errorf("blob store: %w", err)
	}
	return nil
}

// Audit returns the audit trail, for doors that trace events the core does not
// see (a failed web code, a logout).
func (s *Service) Audit() *audit.Trail { return s.audit }

// Actor is who acts, and through which door: every call that reads or changes mail
// takes one, and the core checks its rights and traces it.
type Actor struct {
	// AccountID is the person's account; 0 is the system itself (MX delivery,
	// operator commands), which holds every right.
	AccountID int64
	// Address is the person's login address, for the audit trail.
	Address string
	// Door is "smtp", "submission", "imap", "web", "cli", "queue"…
	Door string
	// Remote is the client's network address, when there is one.
	Remote string
	// Method is how the person logged in, and Credential which credential
	// they used ("device:12", "cert:<fingerprint>", "password", "psc"), so
	// that a door can end the sessions of a revoked one.
	Method     Method
	Credential string
}

// System returns the actor for the server's own work through door.
func System(door string) Actor { return Actor{Door: door, Address: "system"} }

// IsSystem tells whether the actor is the server itself.
func (a Actor) IsSystem() bool { return a.AccountID == 0 }

func (a Actor) audit(action, target string, err error, detail string) audit.Entry {
	result := "ok"
	if err != nil {
		result = "error"
		if errors.Is(err, ErrPermission) {
			result = "denied"
		}
	}
	return audit.Entry{Actor: a.Address, Door: a.Door, Remote: a.Remote, Action: action, Target: target, Result: result, Detail: detail}
}

// The errors doors turn into protocol replies. Match them with errors.Is.
var (
	// ErrNotFound: the account, mailbox, folder or message does not exist, or
	// the actor may not know that it does.
	ErrNotFound = errors.New("not found")
	// ErrPermission: the actor lacks the right for this action.
	ErrPermission = errors.New("permission denied")
	// ErrNoSuchRecipient: a local domain has no such address.
	ErrNoSuchRecipient = errors.New("no such recipient")
	// ErrQuota: the mailbox is over its storage quota.
	ErrQuota = errors.New("mailbox over quota")
	// ErrTooBig: the message exceeds the size limit.
	ErrTooBig = errors.New("message too big")
	// ErrExists: the name is already taken.
	ErrExists = errors.New("already exists")
	// ErrInvalid: the input is malformed; the wrapping error says how.
	ErrInvalid = errors.New("invalid")
	// ErrAuth: login failed. It never tells whether the account exists.
	ErrAuth = errors.New("authentication failed")
	// ErrDisabled: the account is disabled.
	ErrDisabled = errors.New("account disabled")
	// ErrTooManyAttempts: this account or address failed to log in too often
	// and must wait. Doors say so without telling whether the account exists.
	ErrTooManyAttempts = errors.New("too many failed attempts, try again later")
	// ErrUntrusted: a remote recipient is outside the trust space: its
	// domain is not on the whitelist. The wrapping error names the domain.
	ErrUntrusted = errors.New("recipient outside the trust space")
)

// NormalizeAddress lowercases an address and checks its shape: one @, a non-empty
// local part and a domain with a dot or "localhost".
func NormalizeAddress(addr string) (string, error) {
	addr = strings.ToLower(strings.TrimSpace(addr))
	local, domain, ok := strings.Cut(addr, "@")
	if !ok || local == "" || domain == "" || strings.ContainsAny(addr, " <>\"\\,;\r\n\t") || strings.Contains(domain, "@") {
		return "", fmt.Errorf("%w: address %q", ErrInvalid, addr)
	}
	return addr, nil
}

// DomainOf returns the domain part of a normalised address.
func DomainOf(addr string) string {
	_, d, _ := strings.Cut(addr, "@")
	return d
}

func (s *Service) nowMillis() int64 { return s.now().UnixMilli() }
