package server

import (
	"context"
	"crypto/tls"
	"fmt"
	"net"
	"net/http"

	"github.com/prometheus/client_golang/prometheus"

	"caduceus/internal/auth"
	"caduceus/internal/autoconfig"
	"caduceus/internal/blob"
	"caduceus/internal/config"
	"caduceus/internal/core"
	"caduceus/internal/imap"
	"caduceus/internal/managesieve"
	"caduceus/internal/queue"
	"caduceus/internal/smtp"
	"caduceus/internal/web"
)

// startDoors starts the mail protocol listeners the configuration names.
func (s *Server) startDoors(ctx context.Context) error {
	l := s.Config.Listen
	for _, d := range []struct {
		name, addr string
		mode       smtp.Mode
	}{
		{"smtp", l.SMTP, smtp.MX},
		{"submission", l.Submission, smtp.Submission},
		{"submissions", l.Submissions, smtp.Submissions},
	} {
		if d.addr == "" {
			continue
		}
		ln, err := s.listen(d.name, d.addr)
		if err != nil {
			return err
		}
		tc := s.TLS.Clone()
		if d.mode != smtp.MX {
			tc = requestClientCerts(tc)
		}
		opts := smtp.Options{
			Mode: d.mode, Hostname: s.Config.Hostname, TLS: tc,
			MaxMessageBytes: s.Config.Limits.MessageSize, Logger: s.log.With("door", d.name),
		}
		if d.mode == smtp.MX && s.Trust != nil {
			opts.Trust, opts.TLS = s.Trust, s.Trust.ServerTLS(s.TLS, d.name)
		}
		srv := smtp.NewServer(s.Core, opts)
		s.serve(d.name, func() error { return srv.Serve(ln) })
		s.onStop(srv.Shutdown)
	}
	for _, d := range []struct {
		name, addr string
		implicit   bool
	}{
		{"imap", l.IMAP, false},
		{"imaps", l.IMAPS, true},
	} {
		if d.addr == "" {
			continue
		}
		ln, err := s.listen(d.name, d.addr)
		if err != nil {
			return err
		}
		srv := imap.NewServer(s.Core, imap.Options{
			Hostname: s.Config.Hostname, TLS: requestClientCerts(s.TLS.Clone()), ImplicitTLS: d.implicit,
			Logger:             s.log.With("door", d.name),
			IdleTimeout:        s.Config.IMAP.IdleTimeout.Duration,
			MaxConnsPerAccount: s.Config.IMAP.MaxConnsPerAccount,
			MaxConnsPerIP:      s.Config.IMAP.MaxConnsPerIP,
			CommandRate:        s.Config.IMAP.CommandRate,
		})
		s.serve(d.name, func() error { return srv.Serve(ln) })
		s.onStop(srv.Shutdown)
	}
	if l.ManageSieve != "" {
		ln, err := s.listen("managesieve", l.ManageSieve)
		if err != nil {
			return err
		}
		srv := managesieve.NewServer(s.Core, managesieve.Options{
			Hostname: s.Config.Hostname, TLS: s.TLS.Clone(), Logger: s.log.With("door", "managesieve"),
		})
		s.serve("managesieve", func() error { return srv.Serve(ln) })
		s.onStop(srv.Shutdown)
	}
	return nil
}

// requestClientCerts makes a mail-client listener ask for a client
// certificate without requiring one: an application's mailbox logs in with
// it (SASL EXTERNAL), everyone else as before. The chain is not checked
// here: the core accepts only certificates pinned to a mailbox, by their
// SHA-256 fingerprint, and TLS has proved the client holds the key.
func requestClientCerts(c *tls.Config) *tls.Config {
	if c.ClientAuth == tls.NoClientCert {
		c.ClientAuth = tls.RequestClientCert
	}
	return c
}

// startQueue runs the outbound queue for the node's life: to other servers,
// or into the dev outbox when the configuration names one.
func (s *Server) startQueue(ctx context.Context) {
	out := &smtp.Outbound{
		Hostname: s.Config.Hostname, Relay: s.Config.Delivery.Relay,
		RelayUsername: s.Config.Delivery.RelayUsername, RelayPassword: s.Config.Delivery.RelayPassword,
		RequireTLS: s.Config.Delivery.RequireTLS,
	}
	if s.Trust != nil {
		// Only to whitelisted domains, over mutual TLS, never in plain text.
		out.TLS, out.RequireTLS, out.CheckDomain = s.Trust.ClientTLS(&s.clientCert), true, s.Trust.CheckDomain
	}
	var tr queue.Transport = out
	if s.Config.Dev.Outbox != "" {
		tr = queue.DevOutbox{Dir: s.Config.Dev.Outbox}
	}
	q := queue.New(s.Core, queue.Options{
		Transport: tr, Hostname: s.Config.Hostname, Logger: s.log.With("door", "queue"),
		Schedule: queue.Schedule{First: s.Config.Delivery.RetryFirst.Duration, Max: s.Config.Delivery.RetryMax.Duration},
		Lease:    s.Config.Delivery.Lease.Duration,
	})
	s.serve("queue", func() error { return q.Run(ctx) })
}

// webHandler serves the health endpoint and the web app.
func (s *Server) webHandler(ctx context.Context) (http.Handler, error) {
	factors, cards, psc, err := s.strongAuth(ctx)
	if err != nil {
		return nil, err
	}
	app, err := web.New(s.Core, web.Options{
		Hostname:        s.Config.Hostname,
		BaseURL:         s.BaseURL(),
		Logger:          s.log.With("door", "web"),
		Mailer:          noticeMailer{s.Core},
		Auth:            auth.NewSQLStore(s.Store),
		IdleTimeout:     s.Config.Web.IdleTimeout.Duration,
		SessionLifetime: s.Config.Web.SessionLifetime.Duration,
		CodePepper:      s.Secret("web code pepper"),
		DevOutboxDir:    s.Config.Dev.Outbox,
		Directory:       s.dir,
		Factors:         factors,
		Cards:           cards,
		PSC:             psc,
		MailSettings:    s.mailSettings,
	})
	if err != nil {
		return nil, fmt.Errorf("web app: %w", err)
	}
	mux := http.NewServeMux()
	mux.HandleFunc("GET /healthz", s.health)
	ac := autoconfig.Handler(s.mailSettings, s.Core.IsLocalDomain)
	for _, p := range []string{"/.well-known/autoconfig/", "/mail/config-v1.1.xml", "/autodiscover/", "/Autodiscover/"} {
		mux.Handle(p, ac)
	}
	mux.Handle("/", app)
	return mux, nil
}

// MailSettings are the server settings mail clients are given (autoconfig,
// device enrolment): the configured host name and the ports of the IMAP and
// submission listeners, implicit TLS first.
func MailSettings(cfg config.Config) autoconfig.Settings {
	l := cfg.Listen
	return autoconfig.FromListeners(cfg.Hostname, l.IMAPS, l.IMAP, l.Submissions, l.Submission)
}

// mailSettings are MailSettings with the ports the listeners really have
// (a test's 127.0.0.1:0 becomes its port).
func (s *Server) mailSettings() autoconfig.Settings {
	c := s.Config
	for name, addr := range map[string]*string{"imaps": &c.Listen.IMAPS, "imap": &c.Listen.IMAP, "submissions": &c.Listen.Submissions, "submission": &c.Listen.Submission} {
		if a := s.Addr(name); a != "" {
			*addr = a
		}
	}
	return MailSettings(c)
}

// BaseURL is the public URL of the web app: [web] base_url, else the
// hostname with the HTTPS listener's port. A node named localhost (caduceus
// dev) is reached as https://localhost:PORT, a name WebAuthn accepts, so
// that passkeys work there too.
func (s *Server) BaseURL() string {
	if s.Config.Web.BaseURL != "" {
		return s.Config.Web.BaseURL
	}
	host := s.Config.Hostname
	if a := s.Addr("https"); a != "" {
		if _, port, err := net.SplitHostPort(a); err == nil && port != "443" {
			host = net.JoinHostPort(host, port)
		}
	}
	return "https://" + host
}

// noticeMailer sends the web app's system mail (login codes) through the core.
type noticeMailer struct{ svc *core.Service }

func (m noticeMailer) SendSystemMail(ctx context.Context, to string, msg []byte) error {
	return m.svc.SendNotice(ctx, core.System("web"), to, "login-code", msg)
}

// health answers 200 when the store and blobs answer (core.Ready), 503
// otherwise.
func (s *Server) health(w http.ResponseWriter, r *http.Request) {
	if err := s.Core.Ready(r.Context()); err != nil {
		http.Error(w, "store unavailable", http.StatusServiceUnavailable)
		return
	}
	w.Header().Set("Content-Type", "text/plain; charset=utf-8")
	w.Write([]byte("ok\n"))
}

// registerMetrics adds the node's own gauges to reg.
func (s *Server) registerMetrics(reg *prometheus.Registry) {
	for _, c := range []struct {
		name, help string
		get        func(core.CommitStats) int64
	}{
		{"caduceus_commits_total", "Group commits (one blob sync and one transaction each).", func(c core.CommitStats) int64 { return c.Commits }},
		{"caduceus_messages_stored_total", "Messages stored durably (deliveries, submissions, appends).", func(c core.CommitStats) int64 { return c.Messages }},
		{"caduceus_messages_refused_total", "Messages refused at commit (quota, errors).", func(c core.CommitStats) int64 { return c.Failures }},
		{"caduceus_commit_retries_total", "Group commits run again, a savepoint per job, after one of their jobs failed.", func(c core.CommitStats) int64 { return c.Retries }},
	} {
		get := c.get
		reg.MustRegister(prometheus.NewCounterFunc(prometheus.CounterOpts{Name: c.name, Help: c.help}, func() float64 {
			return float64(get(s.Core.CommitStats()))
		}))
	}
	if _, ok := s.Blobs.S3Stats(); ok {
		for _, c := range []struct {
			name, help string
			get        func(blob.S3Stats) int64
		}{
			{"caduceus_blob_uploads_total", "Objects uploaded to the blob bucket (one per group commit).", func(b blob.S3Stats) int64 { return b.Uploads }},
			{"caduceus_blob_upload_failures_total", "Uploads to the blob bucket that failed (their messages were refused).", func(b blob.S3Stats) int64 { return b.UploadFailures }},
			{"caduceus_blob_uploaded_bytes_total", "Sealed bytes uploaded to the blob bucket.", func(b blob.S3Stats) int64 { return b.UploadedBytes }},
			{"caduceus_blob_fetched_bytes_total", "Sealed bytes read from the blob bucket (cache misses).", func(b blob.S3Stats) int64 { return b.FetchedBytes }},
			{"caduceus_blob_cache_hits_total", "Blocks of blob objects read from the local cache.", func(b blob.S3Stats) int64 { return b.CacheHits }},
			{"caduceus_blob_cache_misses_total", "Blocks of blob objects fetched from the bucket.", func(b blob.S3Stats) int64 { return b.CacheMisses }},
		} {
			get := c.get
			reg.MustRegister(prometheus.NewCounterFunc(prometheus.CounterOpts{Name: c.name, Help: c.help}, func() float64 {
				st, _ := s.Blobs.S3Stats()
				return float64(get(st))
			}))
		}
		reg.MustRegister(prometheus.NewGaugeFunc(prometheus.GaugeOpts{
			Name: "caduceus_blob_cache_bytes",
			Help: "Disk space the local cache of blob objects takes (at most blobs.cache_size).",
		}, func() float64 {
			st, _ := s.Blobs.S3Stats()
			return float64(st.CacheBytes)
		}))
	}
	reg.MustRegister(prometheus.NewGaugeFunc(prometheus.GaugeOpts{
		Name: "caduceus_queue_messages",
		Help: "Remote recipients waiting in the outbound queue.",
	}, func() float64 {
		n, err := s.Core.QueueLength(context.Background())
		if err != nil {
			return -1
		}
		return float64(n)
	}))
}
