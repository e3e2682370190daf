package trust

import (
	"crypto/sha256"
	"crypto/tls"
	"crypto/x509"
	"encoding/pem"
	"fmt"
	"slices"
	"strings"
	"time"
)

// The rules of the trust space, as refusals, logs and metrics name them.
const (
	RuleStartTLS   = "starttls"            // the peer did not start TLS
	RuleTLSVersion = "tls_version"         // TLS older than 1.2 offered
	RuleCipher     = "tls_cipher"          // no allowed cipher suite under TLS 1.2
	RuleClientCert = "client_certificate"  // no client certificate presented
	RuleChain      = "certificate_chain"   // certificate not issued under the bundle
	RuleExpired    = "certificate_expired" // certificate outside its validity
	RuleRevoked    = "certificate_revoked" // certificate on a CRL
	RuleName       = "certificate_name"    // server certificate not valid for the host
	RuleWhitelist  = "whitelist"           // domain not on the whitelist
)

// RuleError is a refusal by one rule of the trust space. Detail is safe to
// send to the peer and to log: it names certificates and domains, never a
// correspondent's address.
type RuleError struct {
	Rule   string
	Detail string
	Err    error
}

func (e *RuleError) Error() string {
	if e.Err != nil {
		return fmt.Sprintf("trust space [%s]: %s: %v", e.Rule, e.Detail, e.Err)
	}
	return fmt.Sprintf("trust space [%s]: %s", e.Rule, e.Detail)
}

// Unwrap returns the cause.
func (e *RuleError) Unwrap() error { return e.Err }

// CipherSuites are the TLS 1.2 suites the Référentiel #2 allows (ECO.1.1.3,
// reference notes §1.2), those Go implements: TLS_ECDHE_RSA_WITH_AES_256_
// CBC_SHA384 (0xC028) is not, so it is neither offered nor accepted. TLS 1.3
// suites are not configurable and all allowed.
var CipherSuites = []uint16{
	tls.TLS_ECDHE_RSA_WITH_AES_256_GCM_SHA384, // 0xC030
	tls.TLS_ECDHE_RSA_WITH_AES_128_GCM_SHA256, // 0xC02F
	tls.TLS_ECDHE_RSA_WITH_AES_128_CBC_SHA256, // 0xC027
}

// Peer is an operator whose certificate passed.
type Peer struct {
	// Subject and Issuer are the distinguished names of the certificate.
	Subject, Issuer string
	// Chain runs from the peer's certificate to a certificate of the bundle.
	Chain []*x509.Certificate
}

// VerifyClient checks the certificate a connecting operator presented (leaf
// first): it must chain to the bundle and be revoked nowhere along the chain.
func (s *Space) VerifyClient(certs []*x509.Certificate) (Peer, error) {
	if len(certs) == 0 {
		return Peer{}, &RuleError{Rule: RuleClientCert, Detail: "no client certificate presented; present your IGC-Sante certificate"}
	}
	st := s.cur.Load()
	h := sha256.New()
	for _, c := range certs {
		h.Write(c.Raw)
	}
	var key [32]byte
	h.Sum(key[:0])
	now := s.opts.Now()
	if v, ok := st.verified.Load(key); ok {
		chain := v.([]*x509.Certificate)
		if valid(chain, now) {
			return Peer{Subject: certs[0].Subject.String(), Issuer: certs[0].Issuer.String(), Chain: chain}, nil
		}
		st.verified.Delete(key)
	}
	// Operators' certificates are not always marked for client use
	// (reference notes §1.2, [verify]): any extended key usage passes.
	chain, err := st.verify(certs[0], certs[1:], "", x509.ExtKeyUsageAny)
	if err != nil {
		return Peer{}, err
	}
	st.verified.Store(key, chain)
	return Peer{Subject: certs[0].Subject.String(), Issuer: certs[0].Issuer.String(), Chain: chain}, nil
}

// valid reports whether every certificate of chain is within its validity.
func valid(chain []*x509.Certificate, now time.Time) bool {
	for _, c := range chain {
		if now.Before(c.NotBefore) || now.After(c.NotAfter) {
			return false
		}
	}
	return true
}

// VerifyServer checks the certificate of a server we deliver to: it must
// chain to the bundle, be valid for name and revoked nowhere along the chain.
func (s *Space) VerifyServer(certs []*x509.Certificate, name string) (Peer, error) {
	if len(certs) == 0 {
		return Peer{}, &RuleError{Rule: RuleChain, Detail: "the server presented no certificate"}
	}
	chain, err := s.cur.Load().verify(certs[0], certs[1:], name, x509.ExtKeyUsageServerAuth)
	if err != nil {
		return Peer{}, err
	}
	return Peer{Subject: certs[0].Subject.String(), Issuer: certs[0].Issuer.String(), Chain: chain}, nil
}

// CheckDomain returns nil when domain is on the whitelist in force.
func (s *Space) CheckDomain(domain string) error {
	if s.cur.Load().whitelist.Has(domain) {
		return nil
	}
	return &RuleError{Rule: RuleWhitelist, Detail: "domain " + normalizeDomain(domain) + " is not on the MSSante whitelist"}
}

// CheckTLS returns nil when a negotiated connection meets the version and
// cipher rules.
func CheckTLS(cs tls.ConnectionState) error {
	if cs.Version < tls.VersionTLS12 {
		return &RuleError{Rule: RuleTLSVersion, Detail: tls.VersionName(cs.Version) + " negotiated; TLS 1.2 or later is required"}
	}
	if cs.Version == tls.VersionTLS12 && !slices.Contains(CipherSuites, cs.CipherSuite) {
		return &RuleError{Rule: RuleCipher, Detail: tls.CipherSuiteName(cs.CipherSuite) + " negotiated; not an allowed TLS 1.2 suite"}
	}
	return nil
}

// ServerTLS returns base set up for the MX in trust mode: TLS 1.2 at least,
// the allowed suites under 1.2, and a client certificate asked for. The
// handshake does not verify the certificate: VerifyClient does afterwards,
// so that the peer gets an SMTP reply naming the rule rather than a broken
// handshake. A client that offers no acceptable version or suite fails the
// handshake; door names it in the refusal counted.
func (s *Space) ServerTLS(base *tls.Config, door string) *tls.Config {
	c := base.Clone()
	c.MinVersion = tls.VersionTLS12
	c.CipherSuites = slices.Clone(CipherSuites)
	c.ClientAuth = tls.RequestClientCert
	c.GetConfigForClient = func(hello *tls.ClientHelloInfo) (*tls.Config, error) {
		if err := checkHello(hello); err != nil {
			s.Refused(door, err, "remote", hello.Conn.RemoteAddr().String())
		}
		return nil, nil
	}
	return c
}

// checkHello tells in advance why a handshake will fail the version or
// cipher rule, so that the refusal is counted under its rule.
func checkHello(hello *tls.ClientHelloInfo) *RuleError {
	var v12, v13 bool
	for _, v := range hello.SupportedVersions {
		v12 = v12 || v == tls.VersionTLS12
		v13 = v13 || v == tls.VersionTLS13
	}
	if !v12 && !v13 {
		return &RuleError{Rule: RuleTLSVersion, Detail: "the client offers no TLS 1.2 or later"}
	}
	if !v13 && !slices.ContainsFunc(hello.CipherSuites, func(id uint16) bool { return slices.Contains(CipherSuites, id) }) {
		return &RuleError{Rule: RuleCipher, Detail: "the client offers none of the allowed TLS 1.2 suites"}
	}
	return nil
}

// ClientTLS returns the settings to deliver to another operator: our
// certificate presented, TLS 1.2 at least with the allowed suites, and the
// server's certificate verified against the bundle in force (not the system
// roots), its name and the CRLs. ServerName is set per host by the caller.
func (s *Space) ClientTLS(cert *tls.Certificate) *tls.Config {
	c := &tls.Config{
		MinVersion:   tls.VersionTLS12,
		CipherSuites: slices.Clone(CipherSuites),
		// The standard verification is replaced, not skipped: VerifyConnection
		// runs the bundle, name and revocation checks on every handshake.
		InsecureSkipVerify: true,
		VerifyConnection: func(cs tls.ConnectionState) error {
			if err := CheckTLS(cs); err != nil {
				return err
			}
			_, err := s.VerifyServer(cs.PeerCertificates, cs.ServerName)
			return err
		},
	}
	if cert != nil {
		c.Certificates = []tls.Certificate{*cert}
	}
	return c
}

// Snapshot describes the lists in force, for `caduceus trust show`.
type Snapshot struct {
	Whitelist       string    // where it comes from
	WhitelistFrom   string    // "source", or "cache" when the source failed at start
	WhitelistAt     time.Time // when the copy in force was fetched
	Signed          bool
	Signer          string
	Domains         []string
	CASubjects      []string
	CRLs            []CRLInfo
	BundleLoadedAt  time.Time
	RefreshInterval time.Duration
}

// CRLInfo describes one revocation list in force.
type CRLInfo struct {
	Source     string
	Issuer     string
	ThisUpdate time.Time
	NextUpdate time.Time
	Revoked    int
	FetchedAt  time.Time
}

// Snapshot returns the lists in force.
func (s *Space) Snapshot() Snapshot {
	st := s.cur.Load()
	snap := Snapshot{
		Whitelist: s.opts.Whitelist, WhitelistFrom: st.listFrom, WhitelistAt: st.listed,
		Signed: st.whitelist.Signed, Signer: st.whitelist.Signer, Domains: slices.Clone(st.whitelist.Domains),
		BundleLoadedAt: st.bundled, RefreshInterval: s.opts.Refresh,
	}
	for _, c := range st.cas {
		snap.CASubjects = append(snap.CASubjects, c.Subject.String())
	}
	for _, src := range s.opts.CRLs {
		if c := st.crls[src]; c != nil {
			snap.CRLs = append(snap.CRLs, CRLInfo{Source: src, Issuer: c.list.Issuer.String(), ThisUpdate: c.list.ThisUpdate,
				NextUpdate: c.list.NextUpdate, Revoked: len(c.revoked), FetchedAt: c.fetched})
		} else {
			snap.CRLs = append(snap.CRLs, CRLInfo{Source: src})
		}
	}
	return snap
}

// pemBlock returns the bytes of the first PEM block of type typ in data.
func pemBlock(data []byte, typ string) []byte {
	if !strings.Contains(string(data[:min(len(data), 4096)]), "-----BEGIN") {
		return nil
	}
	for rest := data; ; {
		var b *pem.Block
		b, rest = pem.Decode(rest)
		if b == nil {
			return nil
		}
		if b.Type == typ {
			return b.Bytes
		}
	}
}
