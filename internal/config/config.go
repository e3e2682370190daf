// Package config reads Caduceus's TOML configuration: every setting has a default, every
// value is validated, and an unknown key is an error that names it, so a typo never
// silently turns a listener off.
package config

import (
	"errors"
	"fmt"
	"net"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"time"

	"github.com/BurntSushi/toml"
)

// Config is the whole configuration of one Caduceus node.
type Config struct {
	// Hostname is the name the server gives itself in SMTP greetings, Received
	// headers, Message-IDs and URLs.
	Hostname string `toml:"hostname"`
	// DataDir holds the SQLite database, the encrypted blobs, the key and the
	// self-signed certificate.
	DataDir string `toml:"data_dir"`
	// Database is empty for SQLite in DataDir, or a postgres:// URL.
	Database string `toml:"database"`
	// KeyFile holds the 32-byte key that encrypts message blobs; empty means
	// DataDir/blob.key, created on first start.
	KeyFile string `toml:"key_file"`

	Listen    Listen    `toml:"listen"`
	TLS       TLS       `toml:"tls"`
	Limits    Limits    `toml:"limits"`
	Delivery  Delivery  `toml:"delivery"`
	Web       Web       `toml:"web"`
	IMAP      IMAP      `toml:"imap"`
	Directory Directory `toml:"directory"`
	Blobs     Blobs     `toml:"blobs"`
	Audit     Audit     `toml:"audit"`
	Trust     Trust     `toml:"trust"`
	Auth      Auth      `toml:"auth"`
	MSSante   MSSante   `toml:"mssante"`
	External  External  `toml:"external"`
	Support   Support   `toml:"support"`
	Dev       Dev       `toml:"dev"`
}

// Auth configures the strong ways of logging in beside the password and
// e-mailed code: CPx cards and Pro Santé Connect for the web app, and
// whether mail clients may still use the bare account password.
type Auth struct {
	Card Card `toml:"card"`
	PSC  PSC  `toml:"psc"`
	// AccountPasswordForMail lets IMAP and SMTP submission accept the bare
	// account password. When false (the default), mail clients log in with a
	// device credential enrolled in the web app, a client certificate pinned
	// to an application's mailbox, or a Pro Santé Connect token, and the
	// password is refused with a message that says to enrol a device.
	AccountPasswordForMail bool `toml:"account_password_for_mail"`
}

// Card configures login with a CPx card (a TLS client certificate). An empty
// CABundle turns card login off.
type Card struct {
	// CABundle is a PEM file of the certificate authorities a card may chain
	// to: the IGC-Santé roots and their FORT PERSONNES intermediates.
	CABundle string `toml:"ca_bundle"`
	// CRLs are revocation lists, as files or https:// URLs; URLs are fetched
	// at start and refreshed, and the last good copy is kept when a fetch fails.
	CRLs []string `toml:"crls"`
	// CRLRefresh is how often the CRL URLs are fetched again.
	CRLRefresh Duration `toml:"crl_refresh"`
}

// PSC configures login with Pro Santé Connect, the national OpenID Connect
// provider of health professionals. An empty Issuer turns it off.
type PSC struct {
	// Issuer is the provider's issuer URL, such as
	// https://auth.esw.esante.gouv.fr/auth/realms/esante-wallet.
	Issuer string `toml:"issuer"`
	// ClientID is the client identifier ANS registered for this service.
	ClientID string `toml:"client_id"`
	// ClientSecretFile holds the client secret, so that it stays out of the
	// configuration file.
	ClientSecretFile string `toml:"client_secret_file"`
	// RedirectURL is the callback registered with the provider:
	// https://<host>/login/psc/callback.
	RedirectURL string `toml:"redirect_url"`
}

// Trust configures the MSSanté trust space: mutual TLS with other operators
// and the national whitelist of their domains (docs/trust-space.md).
type Trust struct {
	// Enabled turns trust mode on: the MX accepts mail only over mutually
	// authenticated TLS from whitelisted domains, and the queue sends only
	// to whitelisted domains, presenting ClientCert.
	Enabled bool `toml:"enabled"`
	// CABundle is the file of the IGC-Santé chain: PEM, DER or PKCS#7 (.p7b).
	CABundle string `toml:"ca_bundle"`
	// CRLs are files or http(s) URLs of the authorities' revocation lists.
	CRLs []string `toml:"crls"`
	// Whitelist is a file or an https URL of the national whitelist XML.
	Whitelist string `toml:"whitelist"`
	// WhitelistNamespace is the XML namespace of //Domaine/Nom; the one of
	// the reference notes §1.1 when empty.
	WhitelistNamespace string `toml:"whitelist_namespace"`
	// Refresh is how often the whitelist, the CRLs and the bundle are read
	// again; a failed read keeps the last good copy.
	Refresh Duration `toml:"refresh"`
	// ClientCert and ClientKey are our operator certificate, presented to
	// the servers we deliver to; empty means the [tls] pair.
	ClientCert string `toml:"client_cert"`
	ClientKey  string `toml:"client_key"`
}

// Listen names the "host:port" of each listener; an empty value turns it off.
type Listen struct {
	SMTP        string `toml:"smtp"`
	Submission  string `toml:"submission"`
	Submissions string `toml:"submissions"`
	IMAP        string `toml:"imap"`
	IMAPS       string `toml:"imaps"`
	HTTPS       string `toml:"https"`
	Metrics     string `toml:"metrics"`
	LDAP        string `toml:"ldap"`
	// ManageSieve serves RFC 5804 (port 4190), with STARTTLS.
	ManageSieve string `toml:"managesieve"`
}

// TLS names the certificate and key; both empty means a self-signed
// certificate made in DataDir.
type TLS struct {
	Cert string `toml:"cert"`
	Key  string `toml:"key"`
}

// Limits bounds what one client may send.
type Limits struct {
	// MessageSize is the largest message accepted, in bytes.
	MessageSize int64 `toml:"message_size"`
	// MailboxQuota is the default storage quota of a new mailbox, in bytes.
	MailboxQuota int64 `toml:"mailbox_quota"`
}

// Delivery configures outbound mail.
type Delivery struct {
	// Relay is a "host:port" smarthost; empty means MX lookup.
	Relay string `toml:"relay"`
	// RelayUsername and RelayPassword log in to the relay (over TLS only).
	RelayUsername string `toml:"relay_username"`
	RelayPassword string `toml:"relay_password"`
	// RequireTLS refuses to hand mail to a server that does not offer STARTTLS.
	RequireTLS bool `toml:"require_tls"`
	// Expire is how long the queue keeps retrying before it gives up and
	// sends a delivery status notification.
	Expire Duration `toml:"expire"`
	// RetryFirst is the wait after a first failed attempt, doubled after
	// each further one up to RetryMax.
	RetryFirst Duration `toml:"retry_first"`
	RetryMax   Duration `toml:"retry_max"`
	// Lease is how long a node holds a queued message it is sending; it
	// renews the lease while the attempt lasts, so the messages of a node
	// that died go to another node after at most this long.
	Lease Duration `toml:"lease"`
}

// IMAP bounds what IMAP clients may do.
type IMAP struct {
	// IdleTimeout closes a connection silent this long outside IDLE; RFC 9051
	// §5.4 asks for at least 30 minutes.
	IdleTimeout Duration `toml:"idle_timeout"`
	// MaxConnsPerAccount and MaxConnsPerIP cap simultaneous connections.
	MaxConnsPerAccount int `toml:"max_conns_per_account"`
	MaxConnsPerIP      int `toml:"max_conns_per_ip"`
	// CommandRate is how many commands a second one connection may send
	// before it is slowed down.
	CommandRate float64 `toml:"command_rate"`
}

// Web configures the web app.
type Web struct {
	// BaseURL is the public URL of the web app, used in notification links;
	// empty means https://Hostname[:port].
	BaseURL string `toml:"base_url"`
	// IdleTimeout ends a web session after this long without a request.
	IdleTimeout Duration `toml:"idle_timeout"`
	// SessionLifetime ends a web session this long after login, whatever happens.
	SessionLifetime Duration `toml:"session_lifetime"`
}

// Directory configures the directory of health professionals.
type Directory struct {
	// LDAPAnonymous lets LDAP clients search without binding.
	LDAPAnonymous bool `toml:"ldap_anonymous"`
	// LDAPBaseDN is the DN the LDAP view lists entries under.
	LDAPBaseDN string `toml:"ldap_base_dn"`
}

// Blobs configures where the encrypted blobs are kept and the compaction of
// their segments, which gives back the space of expunged messages.
type Blobs struct {
	// Store is empty for segment files in DataDir/blobs, or
	// s3://BUCKET[/PREFIX]?endpoint=HOST:PORT&region=R&tls=true for the
	// objects of an S3-compatible bucket. It holds no secret.
	Store string `toml:"store"`
	// Credentials is an AWS shared credentials file ([default] profile) for
	// the bucket; when empty, AWS_ACCESS_KEY_ID and AWS_SECRET_ACCESS_KEY.
	Credentials string `toml:"credentials"`
	// CacheSize bounds the local read cache of S3 blocks
	// (DataDir/blobcache), as "512MiB"; "0" turns it off.
	CacheSize Size `toml:"cache_size"`
	// CompactInterval is how often `caduceus serve` compacts; "0s" turns the
	// background compaction off (`caduceus blobs compact` still works).
	CompactInterval Duration `toml:"compact_interval"`
	// CompactThreshold is the share of a closed segment's bytes that must be
	// dead (0 < t ≤ 1) before its live messages are moved out.
	CompactThreshold float64 `toml:"compact_threshold"`
	// CompactGrace is how long a compacted segment stays on disk, so that
	// reads started before the move finish; at least a minute.
	CompactGrace Duration `toml:"compact_grace"`
}

// Audit configures the audit trail.
type Audit struct {
	// Retention is how long an entry is kept; `caduceus serve` removes older
	// ones once a day. At least a year (8760h), as traces of access to health
	// data must be kept.
	Retention Duration `toml:"retention"`
}

// MSSante holds the values the MSSanté référentiels give the software.
type MSSante struct {
	// NIL is X-MSS-NIL, sent on every message: the product reference given
	// when the software is declared on convergence.esante.gouv.fr
	// (Référentiel #2 ECO.2.4.3). Empty leaves the header out.
	NIL string `toml:"nil"`
	// INSOIDs are the OIDs that make a CDA patient identifier an INS, for
	// X-MSS-INS; empty means NIR, NIA, test and demo (1.2.250.1.213.1.4.8
	// to .11) [verify in the CI-SIS "annexe INS"].
	INSOIDs []string `toml:"ins_oids"`
	// PatientDomain is the domain of patients' mailboxes in Mon Espace
	// Santé; "patient.mssante.fr" when empty.
	PatientDomain string `toml:"patient_domain"`
}

// External configures the secure links sent to recipients outside the trust
// space (a patient, a professional without MSSanté).
type External struct {
	// LinkLifetime is how long a link works: 30 days by default.
	LinkLifetime Duration `toml:"link_lifetime"`
}

// Support configures where people write for help: "Vos informations
// Gestionnaire" in the web app offers the support address beside their
// domain's manager.
type Support struct {
	// Address is the support's e-mail address; empty offers none.
	Address string `toml:"address"`
}

// Dev holds settings of `caduceus dev`; in production they stay empty.
type Dev struct {
	// Outbox, when set, receives every message for a remote address as a file
	// instead of sending it off the machine.
	Outbox string `toml:"outbox"`
}

// Duration is a time.Duration written as "30m" or "120h" in TOML.
type Duration struct{ time.Duration }

// UnmarshalText reads a Go duration string.
func (d *Duration) UnmarshalText(b []byte) error {
	v, err := time.ParseDuration(string(b))
	if err != nil {
		return fmt.Errorf("duration %q: %w", b, err)
	}
	d.Duration = v
	return nil
}

// MarshalText writes the duration the way UnmarshalText reads it.
func (d Duration) MarshalText() ([]byte, error) { return []byte(d.Duration.String()), nil }

// Size is a number of bytes, written "512MiB", "2GiB", "100MB", "64KiB" or
// plain digits in a file.
type Size int64

// UnmarshalText reads a size with an optional binary (KiB, MiB, GiB, TiB) or
// decimal (kB, MB, GB, TB) unit.
func (z *Size) UnmarshalText(b []byte) error {
	s := strings.TrimSpace(string(b))
	units := []struct {
		suffix string
		mult   int64
	}{{"KiB", 1 << 10}, {"MiB", 1 << 20}, {"GiB", 1 << 30}, {"TiB", 1 << 40}, {"kB", 1e3}, {"KB", 1e3}, {"MB", 1e6}, {"GB", 1e9}, {"TB", 1e12}, {"B", 1}}
	mult := int64(1)
	for _, u := range units {
		if n, ok := strings.CutSuffix(s, u.suffix); ok {
			s, mult = strings.TrimSpace(n), u.mult
			break
		}
	}
	v, err := strconv.ParseInt(s, 10, 64)
	if err != nil || v < 0 || v > (1<<62)/mult {
		return fmt.Errorf("size %q: want a number of bytes, as 512MiB", b)
	}
	*z = Size(v * mult)
	return nil
}

// MarshalText writes the size in bytes.
func (z Size) MarshalText() ([]byte, error) { return []byte(strconv.FormatInt(int64(z), 10)), nil }

// Defaults returns the configuration used for every key a file leaves out.
func Defaults() Config {
	host, err := os.Hostname()
	if err != nil || host == "" {
		host = "localhost"
	}
	return Config{
		Hostname: host,
		DataDir:  "/var/lib/caduceus",
		Limits: Limits{
			MessageSize:  50 << 20,
			MailboxQuota: 10 << 30,
		},
		Delivery:  Delivery{Expire: Duration{5 * 24 * time.Hour}, RetryFirst: Duration{5 * time.Minute}, RetryMax: Duration{4 * time.Hour}, Lease: Duration{time.Minute}},
		Trust:     Trust{Refresh: Duration{time.Hour}},
		Directory: Directory{LDAPBaseDN: "ou=annuaire,dc=caduceus"},
		External:  External{LinkLifetime: Duration{30 * 24 * time.Hour}},
		Blobs:     Blobs{CompactInterval: Duration{time.Hour}, CompactThreshold: 0.5, CompactGrace: Duration{time.Hour}, CacheSize: 512 << 20},
		Audit:     Audit{Retention: Duration{365 * 24 * time.Hour}},
		Auth:      Auth{Card: Card{CRLRefresh: Duration{time.Hour}}},
		IMAP:      IMAP{IdleTimeout: Duration{30 * time.Minute}, MaxConnsPerAccount: 50, MaxConnsPerIP: 500, CommandRate: 500},
		Web: Web{
			IdleTimeout:     Duration{30 * time.Minute},
			SessionLifetime: Duration{12 * time.Hour},
		},
	}
}

// Load reads the file at path over the defaults, applies CADUCEUS_* environment
// overrides and validates the result.
func Load(path string) (Config, error) {
	cfg := Defaults()
	md, err := toml.DecodeFile(path, &cfg)
	if err != nil {
		return Config{}, fmt.Errorf("read config %s: %w", path, err)
	}
	if undec := md.Undecoded(); len(undec) > 0 {
		keys := make([]string, len(undec))
		for i, k := range undec {
			keys[i] = k.String()
		}
		return Config{}, fmt.Errorf("config %s: unknown key %s", path, strings.Join(keys, ", "))
	}
	applyEnv(&cfg, os.LookupEnv)
	if !filepath.IsAbs(cfg.DataDir) {
		cfg.DataDir = filepath.Join(filepath.Dir(path), cfg.DataDir)
	}
	if err := cfg.Validate(); err != nil {
		return Config{}, fmt.Errorf("config %s: %w", path, err)
	}
	return cfg, nil
}

// Validate reports the first setting that cannot work.
func (c Config) Validate() error {
	if c.Hostname == "" {
		return errors.New("hostname is empty")
	}
	if c.DataDir == "" {
		return errors.New("data_dir is empty")
	}
	if c.Database != "" && !strings.HasPrefix(c.Database, "postgres://") && !strings.HasPrefix(c.Database, "postgresql://") {
		return fmt.Errorf("database %q: want empty (SQLite) or a postgres:// URL", c.Database)
	}
	for name, addr := range c.Listen.byName() {
		if addr == "" {
			continue
		}
		if _, _, err := net.SplitHostPort(addr); err != nil {
			return fmt.Errorf("listen.%s %q: want host:port: %w", name, addr, err)
		}
	}
	if (c.TLS.Cert == "") != (c.TLS.Key == "") {
		return errors.New("tls: set both cert and key, or neither for a self-signed certificate")
	}
	if c.Limits.MessageSize < 1024 {
		return fmt.Errorf("limits.message_size %d: want at least 1024 bytes", c.Limits.MessageSize)
	}
	if c.Limits.MailboxQuota < 0 {
		return fmt.Errorf("limits.mailbox_quota %d: want 0 (none) or more", c.Limits.MailboxQuota)
	}
	if c.IMAP.IdleTimeout.Duration < 30*time.Minute {
		return fmt.Errorf("imap.idle_timeout %v: RFC 9051 wants at least 30m", c.IMAP.IdleTimeout.Duration)
	}
	if c.IMAP.MaxConnsPerAccount < 1 || c.IMAP.MaxConnsPerIP < 1 || c.IMAP.CommandRate <= 0 {
		return errors.New("imap: max_conns_per_account, max_conns_per_ip and command_rate must be positive")
	}
	// The URL is not quoted: a secret might have been put there by mistake.
	if st := c.Blobs.Store; st != "" && !strings.HasPrefix(st, "s3://") {
		return errors.New("blobs.store: want empty (files in data_dir) or s3://BUCKET?endpoint=HOST:PORT&region=R&tls=true")
	}
	if c.Blobs.Credentials != "" && c.Blobs.Store == "" {
		return errors.New("blobs.credentials set without an s3:// blobs.store")
	}
	if i := c.Blobs.CompactInterval.Duration; i != 0 && i < time.Minute {
		return fmt.Errorf("blobs.compact_interval %v: want 0s (off) or at least 1m", i)
	}
	if t := c.Blobs.CompactThreshold; !(t > 0 && t <= 1) {
		return fmt.Errorf("blobs.compact_threshold %v: want a share of dead bytes above 0 and at most 1", t)
	}
	if g := c.Blobs.CompactGrace.Duration; g < time.Minute {
		return fmt.Errorf("blobs.compact_grace %v: want at least 1m, so that reads in progress finish", g)
	}
	if r := c.Audit.Retention.Duration; r < 365*24*time.Hour {
		return fmt.Errorf("audit.retention %v: want at least 8760h (a year)", r)
	}
	if f, m := c.Delivery.RetryFirst.Duration, c.Delivery.RetryMax.Duration; f < time.Second || m < f {
		return fmt.Errorf("delivery.retry_first %v, retry_max %v: want at least 1s, and retry_max at least retry_first", f, m)
	}
	if err := c.Trust.validate(); err != nil {
		return err
	}
	if err := c.Auth.validate(); err != nil {
		return err
	}
	if l := c.External.LinkLifetime.Duration; l < time.Hour {
		return fmt.Errorf("external.link_lifetime %v: want at least 1h", l)
	}
	if a := c.Support.Address; a != "" && (!strings.Contains(a, "@") || strings.ContainsAny(a, " <>\"\r\n")) {
		return fmt.Errorf("support.address %q: want an e-mail address", a)
	}
	if c.Delivery.Relay != "" {
		if _, _, err := net.SplitHostPort(c.Delivery.Relay); err != nil {
			return fmt.Errorf("delivery.relay %q: want host:port: %w", c.Delivery.Relay, err)
		}
	}
	return nil
}

func (t Trust) validate() error {
	if (t.ClientCert == "") != (t.ClientKey == "") {
		return errors.New("trust: set both client_cert and client_key, or neither for the [tls] pair")
	}
	if t.Refresh.Duration < time.Minute {
		return fmt.Errorf("trust.refresh %v: want at least 1m", t.Refresh.Duration)
	}
	if !t.Enabled {
		return nil
	}
	if t.CABundle == "" || t.Whitelist == "" {
		return errors.New("trust: enabled needs ca_bundle and whitelist")
	}
	if strings.HasPrefix(t.Whitelist, "http://") {
		return fmt.Errorf("trust.whitelist %q: an URL must be https", t.Whitelist)
	}
	for _, c := range t.CRLs {
		if c == "" {
			return errors.New("trust.crls: an entry is empty")
		}
	}
	return nil
}

// byName maps each listener's config key to its address.
func (l Listen) byName() map[string]string {
	return map[string]string{
		"smtp": l.SMTP, "submission": l.Submission, "submissions": l.Submissions,
		"imap": l.IMAP, "imaps": l.IMAPS, "https": l.HTTPS, "metrics": l.Metrics, "ldap": l.LDAP,
		"managesieve": l.ManageSieve,
	}
}

// applyEnv overrides the settings an operator most often sets per machine:
// CADUCEUS_HOSTNAME, CADUCEUS_DATA_DIR and CADUCEUS_DATABASE.
func applyEnv(c *Config, lookup func(string) (string, bool)) {
	if v, ok := lookup("CADUCEUS_HOSTNAME"); ok {
		c.Hostname = v
	}
	if v, ok := lookup("CADUCEUS_DATA_DIR"); ok {
		c.DataDir = v
	}
	if v, ok := lookup("CADUCEUS_DATABASE"); ok {
		c.Database = v
	}
}

func (a Auth) validate() error {
	if a.Card.CABundle == "" && len(a.Card.CRLs) > 0 {
		return errors.New("auth.card: crls set without ca_bundle")
	}
	for _, u := range a.Card.CRLs {
		if strings.Contains(u, "://") && !strings.HasPrefix(u, "https://") && !strings.HasPrefix(u, "http://") {
			return fmt.Errorf("auth.card.crls %q: want a file or an http(s):// URL", u)
		}
	}
	if a.Card.CABundle != "" && a.Card.CRLRefresh.Duration < time.Minute {
		return fmt.Errorf("auth.card.crl_refresh %v: want at least 1m", a.Card.CRLRefresh.Duration)
	}
	p := a.PSC
	if p.Issuer == "" {
		if p.ClientID != "" || p.ClientSecretFile != "" || p.RedirectURL != "" {
			return errors.New("auth.psc: client_id, client_secret_file or redirect_url set without issuer")
		}
		return nil
	}
	if !strings.HasPrefix(p.Issuer, "https://") && !strings.HasPrefix(p.Issuer, "http://127.0.0.1") && !strings.HasPrefix(p.Issuer, "http://localhost") {
		return fmt.Errorf("auth.psc.issuer %q: want an https:// URL", p.Issuer)
	}
	if p.ClientID == "" || p.ClientSecretFile == "" || p.RedirectURL == "" {
		return errors.New("auth.psc: issuer needs client_id, client_secret_file and redirect_url")
	}
	if !strings.HasPrefix(p.RedirectURL, "https://") {
		return fmt.Errorf("auth.psc.redirect_url %q: want an https:// URL", p.RedirectURL)
	}
	return nil
}
