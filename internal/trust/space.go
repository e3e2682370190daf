package trust

import (
	"cmp"
	"context"
	"crypto/tls"
	"crypto/x509"
	"errors"
	"fmt"
	"log/slog"
	"net/http"
	"slices"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	dto "github.com/prometheus/client_model/go"
)

// Options says where a Space loads its lists from.
type Options struct {
	// CABundle is the file of the authorities operators' certificates must
	// chain to: PEM, DER or PKCS#7 (.p7b). Required.
	CABundle string
	// CRLs are files or http(s) URLs of certificate revocation lists (DER or
	// PEM), each signed by a certificate of the bundle.
	CRLs []string
	// Whitelist is a file or an https URL of the national whitelist XML.
	// Required.
	Whitelist string
	// Namespace is the whitelist's XML namespace; DefaultNamespace when empty.
	Namespace string
	// Refresh is how often the lists are read again, one hour when 0.
	Refresh time.Duration
	// CacheDir keeps the last good copy of every list fetched; empty keeps
	// none.
	CacheDir string
	// HTTPClient fetches URLs; nil uses one that trusts the system roots and
	// the bundle, with a one-minute timeout.
	HTTPClient *http.Client
	// Logger gets a line for every refresh that fails and every refusal.
	Logger *slog.Logger
	// Now returns the current time; time.Now when nil.
	Now func() time.Time
}

// Space is the trust space in force on this node. It is safe for concurrent
// use; Refresh swaps in new lists atomically.
type Space struct {
	opts Options
	log  *slog.Logger
	cur  atomic.Pointer[state]

	mu sync.Mutex // serialises refreshes

	refusals  *prometheus.CounterVec
	failures  *prometheus.CounterVec
	refreshed *prometheus.GaugeVec
}

// state is one consistent set of lists.
type state struct {
	cas     []*x509.Certificate
	pool    *x509.CertPool
	bundled time.Time // when the bundle was read

	whitelist *Whitelist
	listed    time.Time // when the whitelist in force was fetched
	listFrom  string    // "source" or "cache"

	crls map[string]*crlCopy // by source

	// verified remembers the chains of client certificates that passed with
	// these lists, by the SHA-256 of the certificates presented, so that a
	// peer reconnecting does not pay for the chain and CRL checks again. A
	// refresh makes a new state, and so forgets them.
	verified sync.Map // [32]byte -> []*x509.Certificate
}

// crlCopy is one revocation list in force.
type crlCopy struct {
	list    *x509.RevocationList
	fetched time.Time
	revoked map[string]bool // serial numbers, as decimal strings
}

// Open loads the lists; it fails when the bundle cannot be read or no
// whitelist can be had, from its source or from the cache. A CRL that cannot
// be had is logged and counted, and checked again at each refresh.
func Open(ctx context.Context, opts Options) (*Space, error) {
	if opts.CABundle == "" || opts.Whitelist == "" {
		return nil, errors.New("trust: ca_bundle and whitelist are required")
	}
	opts.Namespace = cmp.Or(opts.Namespace, DefaultNamespace)
	opts.Refresh = cmp.Or(opts.Refresh, time.Hour)
	if opts.Logger == nil {
		opts.Logger = slog.New(slog.DiscardHandler)
	}
	if opts.Now == nil {
		opts.Now = time.Now
	}
	s := &Space{
		opts: opts,
		log:  opts.Logger.With("component", "trust"),
		refusals: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "caduceus_trust_refusals_total",
			Help: "Connections or transactions refused by a trust-space rule, by door and rule.",
		}, []string{"door", "rule"}),
		failures: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "caduceus_trust_refresh_failures_total",
			Help: "Failed reads of a trust-space list (the last good copy stays in force), by list.",
		}, []string{"list"}),
		refreshed: prometheus.NewGaugeVec(prometheus.GaugeOpts{
			Name: "caduceus_trust_list_fetched_timestamp_seconds",
			Help: "When the copy in force of each trust-space list was fetched.",
		}, []string{"list"}),
	}
	client := opts.HTTPClient
	st, err := s.load(ctx, nil, client)
	if st == nil {
		return nil, err
	}
	if err != nil {
		s.log.Warn("trust: started with cached or missing lists", "err", err)
	}
	s.cur.Store(st)
	return s, nil
}

// httpClient trusts the system roots and the bundle: the authority serves
// its lists over TLS with an IGC-Santé certificate.
func httpClient(cas []*x509.Certificate) *http.Client {
	pool, err := x509.SystemCertPool()
	if err != nil || pool == nil {
		pool = x509.NewCertPool()
	}
	for _, c := range cas {
		pool.AddCert(c)
	}
	return &http.Client{
		Timeout:   time.Minute,
		Transport: &http.Transport{TLSClientConfig: &tls.Config{RootCAs: pool, MinVersion: tls.VersionTLS12}},
	}
}

// Refresh reads every list again. A list that cannot be read or does not
// verify keeps its copy in force; the error names every list that failed.
func (s *Space) Refresh(ctx context.Context) error {
	s.mu.Lock()
	defer s.mu.Unlock()
	old := s.cur.Load()
	st, err := s.load(ctx, old, s.opts.HTTPClient)
	if st != nil {
		s.cur.Store(st)
	}
	return err
}

// Run refreshes every Options.Refresh until ctx ends.
func (s *Space) Run(ctx context.Context) {
	t := time.NewTicker(s.opts.Refresh)
	defer t.Stop()
	for {
		select {
		case <-ctx.Done():
			return
		case <-t.C:
			if err := s.Refresh(ctx); err != nil && ctx.Err() == nil {
				s.log.Warn("trust refresh: keeping the last good copy", "err", err)
			}
		}
	}
}

// load builds a state from the sources, keeping what old had for every list
// that fails. With old nil (the first load) a missing bundle or whitelist is
// fatal.
func (s *Space) load(ctx context.Context, old *state, client *http.Client) (*state, error) {
	now := s.opts.Now()
	st := &state{crls: map[string]*crlCopy{}}
	var errs []error
	fail := func(list string, err error) {
		s.failures.WithLabelValues(list).Inc()
		s.log.Warn("trust list not refreshed", "list", list, "err", err)
		errs = append(errs, fmt.Errorf("%s: %w", list, err))
	}

	// The bundle: a local file the operator installs.
	data, err := (&fetcher{}).read(ctx, s.opts.CABundle, 16<<20)
	if err == nil {
		st.cas, err = ParseBundle(data)
	}
	if err != nil {
		if old == nil {
			return nil, fmt.Errorf("trust: ca_bundle %s: %w", s.opts.CABundle, err)
		}
		fail("ca_bundle", err)
		st.cas, st.pool, st.bundled = old.cas, old.pool, old.bundled
	} else {
		st.pool = x509.NewCertPool()
		for _, c := range st.cas {
			st.pool.AddCert(c)
		}
		st.bundled = now
	}
	if client == nil {
		client = httpClient(st.cas)
	}
	f := &fetcher{client: client, cacheDir: s.opts.CacheDir}

	// Revocation lists first: the whitelist's signer is checked against them.
	for _, src := range s.opts.CRLs {
		c, err := s.loadCRL(ctx, f, st, src, now)
		if err != nil {
			fail("crl", fmt.Errorf("%s: %w", src, err))
			if old != nil && old.crls[src] != nil {
				c = old.crls[src]
			} else if c = s.cachedCRL(f, st, src); c == nil {
				continue
			}
		}
		st.crls[src] = c
	}

	// The whitelist.
	wl, err := s.fetchWhitelist(ctx, f, st)
	switch {
	case err == nil:
		st.whitelist, st.listed, st.listFrom = wl, now, "source"
	case old != nil:
		fail("whitelist", err)
		st.whitelist, st.listed, st.listFrom = old.whitelist, old.listed, old.listFrom
	default:
		fail("whitelist", err)
		data, at, cerr := f.cached("whitelist", s.opts.Whitelist)
		if cerr != nil {
			return nil, fmt.Errorf("trust: whitelist %s: %w (and no cached copy)", s.opts.Whitelist, err)
		}
		wl, perr := ParseWhitelist(data, s.opts.Namespace, st.verifySigner)
		if perr != nil {
			return nil, fmt.Errorf("trust: whitelist %s: %w; cached copy: %w", s.opts.Whitelist, err, perr)
		}
		s.log.Warn("trust: using the cached whitelist", "fetched", at)
		st.whitelist, st.listed, st.listFrom = wl, at, "cache"
	}
	s.refreshed.WithLabelValues("whitelist").Set(float64(st.listed.Unix()))
	s.refreshed.WithLabelValues("ca_bundle").Set(float64(st.bundled.Unix()))
	var oldest time.Time
	for _, c := range st.crls {
		if oldest.IsZero() || c.fetched.Before(oldest) {
			oldest = c.fetched
		}
	}
	if !oldest.IsZero() {
		s.refreshed.WithLabelValues("crl").Set(float64(oldest.Unix()))
	}
	return st, errors.Join(errs...)
}

func (s *Space) fetchWhitelist(ctx context.Context, f *fetcher, st *state) (*Whitelist, error) {
	src := s.opts.Whitelist
	if isURL(src) && !hasPrefixFold(src, "https://") {
		return nil, errors.New("the whitelist URL must be https")
	}
	data, err := f.read(ctx, src, maxWhitelistBytes)
	if err != nil {
		return nil, err
	}
	wl, err := ParseWhitelist(data, s.opts.Namespace, st.verifySigner)
	if err != nil {
		return nil, err
	}
	if !wl.Signed {
		s.log.Info("trust: the whitelist is not signed", "source", src)
	}
	if err := f.keep("whitelist", src, data); err != nil {
		s.log.Warn("trust: cannot cache the whitelist", "err", err)
	}
	return wl, nil
}

func (s *Space) loadCRL(ctx context.Context, f *fetcher, st *state, src string, now time.Time) (*crlCopy, error) {
	data, err := f.read(ctx, src, 64<<20)
	if err != nil {
		return nil, err
	}
	c, err := parseCRL(data, st.cas, now)
	if err != nil {
		return nil, err
	}
	if err := f.keep("crl", src, data); err != nil {
		s.log.Warn("trust: cannot cache a CRL", "err", err)
	}
	return c, nil
}

func (s *Space) cachedCRL(f *fetcher, st *state, src string) *crlCopy {
	data, at, err := f.cached("crl", src)
	if err != nil {
		return nil
	}
	c, err := parseCRL(data, st.cas, at)
	if err != nil {
		return nil
	}
	s.log.Warn("trust: using a cached CRL", "source", src, "fetched", at)
	return c
}

// parseCRL reads a DER or PEM CRL and checks it is signed by one of cas.
func parseCRL(data []byte, cas []*x509.Certificate, fetched time.Time) (*crlCopy, error) {
	if der := pemBlock(data, "X509 CRL"); der != nil {
		data = der
	}
	l, err := x509.ParseRevocationList(data)
	if err != nil {
		return nil, err
	}
	var signed bool
	for _, ca := range cas {
		if slices.Equal(ca.RawSubject, l.RawIssuer) && l.CheckSignatureFrom(ca) == nil {
			signed = true
			break
		}
	}
	if !signed {
		return nil, fmt.Errorf("CRL of %s is not signed by a certificate of the bundle", l.Issuer)
	}
	c := &crlCopy{list: l, fetched: fetched, revoked: make(map[string]bool, len(l.RevokedCertificateEntries))}
	for _, e := range l.RevokedCertificateEntries {
		c.revoked[e.SerialNumber.String()] = true
	}
	return c, nil
}

// verifySigner accepts the certificate that signed a whitelist when it
// chains to the bundle and is not revoked.
func (st *state) verifySigner(leaf *x509.Certificate, others []*x509.Certificate) error {
	_, err := st.verify(leaf, others, "", x509.ExtKeyUsageAny)
	return err
}

// verify checks leaf against the bundle (and name when not empty), then every
// certificate of the chain against the CRLs of its issuer.
func (st *state) verify(leaf *x509.Certificate, others []*x509.Certificate, name string, usage x509.ExtKeyUsage) ([]*x509.Certificate, error) {
	inter := x509.NewCertPool()
	for _, c := range others {
		inter.AddCert(c)
	}
	for _, c := range st.cas {
		inter.AddCert(c)
	}
	chains, err := leaf.Verify(x509.VerifyOptions{Roots: st.pool, Intermediates: inter, KeyUsages: []x509.ExtKeyUsage{usage}})
	if err != nil {
		var ce x509.CertificateInvalidError
		if errors.As(err, &ce) && ce.Reason == x509.Expired {
			return nil, &RuleError{Rule: RuleExpired, Detail: "certificate " + leaf.Subject.String() + " expired or not yet valid", Err: err}
		}
		return nil, &RuleError{Rule: RuleChain, Detail: "certificate " + leaf.Subject.String() + " is not issued by a trusted authority", Err: err}
	}
	chain := chains[0]
	for i, c := range chain[:len(chain)-1] {
		if st.isRevoked(c, chain[i+1]) {
			return nil, &RuleError{Rule: RuleRevoked, Detail: "certificate " + c.Subject.String() + " is revoked"}
		}
	}
	if name != "" {
		if err := leaf.VerifyHostname(name); err != nil {
			return nil, &RuleError{Rule: RuleName, Detail: "certificate " + leaf.Subject.String() + " is not valid for " + name, Err: err}
		}
	}
	return chain, nil
}

// isRevoked reports whether a CRL issued by issuer lists c.
func (st *state) isRevoked(c, issuer *x509.Certificate) bool {
	for _, l := range st.crls {
		if slices.Equal(l.list.RawIssuer, issuer.RawSubject) && l.list.CheckSignatureFrom(issuer) == nil && l.revoked[c.SerialNumber.String()] {
			return true
		}
	}
	return false
}

// Register adds the Space's metrics to reg.
func (s *Space) Register(reg prometheus.Registerer) {
	reg.MustRegister(s.refusals, s.failures, s.refreshed)
	reg.MustRegister(prometheus.NewGaugeFunc(prometheus.GaugeOpts{
		Name: "caduceus_trust_whitelist_domains",
		Help: "Domains on the whitelist in force.",
	}, func() float64 { return float64(len(s.cur.Load().whitelist.Domains)) }))
}

// Refused counts and logs a refusal by a trust-space rule.
func (s *Space) Refused(door string, err *RuleError, attrs ...any) {
	s.refusals.WithLabelValues(door, err.Rule).Inc()
	s.log.Info("trust refused", append([]any{"door", door, "rule", err.Rule, "detail", err.Detail}, attrs...)...)
}

// RefusalCount returns how many refusals by rule door counted.
func (s *Space) RefusalCount(door, rule string) float64 {
	return counterValue(s.refusals.WithLabelValues(door, rule))
}

// FailureCount returns how many refreshes of list ("whitelist", "crl",
// "ca_bundle") failed.
func (s *Space) FailureCount(list string) float64 {
	return counterValue(s.failures.WithLabelValues(list))
}

func counterValue(c prometheus.Counter) float64 {
	var m dto.Metric
	if err := c.Write(&m); err != nil {
		return 0
	}
	return m.GetCounter().GetValue()
}

func hasPrefixFold(s, prefix string) bool {
	return len(s) >= len(prefix) && strings.EqualFold(s[:len(prefix)], prefix)
}
