// Package server wires one Caduceus node together: it opens the store, the
// blobs and the core from the configuration, then starts every listener the
// configuration names, and stops them all gracefully. The command line and the
// integration tests both start a node through here, so what is tested is what
// runs.
package server

import (
	"context"
	"crypto/hkdf"
	"crypto/sha256"
	"crypto/tls"
	"encoding/hex"
	"errors"
	"fmt"
	"log/slog"
	"net"
	"net/http"
	"path/filepath"
	"sync"
	"sync/atomic"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/collectors"
	"github.com/prometheus/client_golang/prometheus/promhttp"

	"caduceus/internal/auth"
	"caduceus/internal/blob"
	"caduceus/internal/certs"
	"caduceus/internal/config"
	"caduceus/internal/core"
	"caduceus/internal/directory"
	"caduceus/internal/imap"
	"caduceus/internal/notify"
	"caduceus/internal/store"
	"caduceus/internal/trust"
)

// Node is an open core: the store, the blobs and the rules, without listeners.
// Operator commands use it directly while a server may be running.
type Node struct {
	Config config.Config
	Store  *store.Store
	Blobs  *blob.Store
	Core   *core.Service
	// key is the master key, from which per-purpose secrets shared by every
	// node are derived.
	key []byte
}

// Open opens the store, the blobs and the core that cfg names.
func Open(ctx context.Context, cfg config.Config, logger *slog.Logger) (*Node, error) {
	return open(ctx, cfg, logger, nil)
}

// open is Open with the policy for remote recipients of a running server.
func open(ctx context.Context, cfg config.Config, logger *slog.Logger, remote core.RemotePolicy) (*Node, error) {
	st, err := store.Open(ctx, cfg.Database, cfg.DataDir)
	if err != nil {
		return nil, err
	}
	key, err := blob.LoadOrCreateKey(KeyFile(cfg))
	if err != nil {
		st.Close()
		return nil, err
	}
	blobs, err := OpenBlobs(ctx, cfg, key)
	if err != nil {
		st.Close()
		return nil, err
	}
	var bearer core.BearerVerifier
	if b, err := newPSCBearer(cfg.Auth.PSC, st, deriveSecret(key, "auth factors")); err != nil {
		blobs.Close()
		st.Close()
		return nil, err
	} else if b != nil {
		bearer = b
	}
	svc, err := core.New(ctx, core.Options{
		Store: st, Blobs: blobs, Hostname: cfg.Hostname,
		MessageSizeLimit: cfg.Limits.MessageSize, DefaultQuota: cfg.Limits.MailboxQuota,
		QueueExpire: cfg.Delivery.Expire.Duration, Logger: logger, RemotePolicy: remote,
		DKIMSecret: deriveSecret(key, "dkim keys"),
		PushSecret: deriveSecret(key, "web push keys"),
		NIL:        cfg.MSSante.NIL, INSOIDs: cfg.MSSante.INSOIDs, PatientDomain: cfg.MSSante.PatientDomain,
		LinkLifetime:           cfg.External.LinkLifetime.Duration,
		AccountPasswordForMail: cfg.Auth.AccountPasswordForMail,
		DeviceKey:              deriveSecret(key, "device credential"),
		Bearer:                 bearer,
		SupportAddress:         cfg.Support.Address,
	})
	if err != nil {
		blobs.Close()
		st.Close()
		return nil, err
	}
	return &Node{Config: cfg, Store: st, Blobs: blobs, Core: svc, key: key}, nil
}

// OpenBlobs opens the blob store cfg names: segment files in the data folder,
// or the S3 bucket of blobs.store, with its read cache in DataDir/blobcache.
func OpenBlobs(ctx context.Context, cfg config.Config, key []byte) (*blob.Store, error) {
	if cfg.Blobs.Store == "" {
		return blob.Open(filepath.Join(cfg.DataDir, "blobs"), key)
	}
	return blob.OpenS3(ctx, blob.S3Options{
		URL: cfg.Blobs.Store, CredentialsFile: cfg.Blobs.Credentials,
		Dir: filepath.Join(cfg.DataDir, "blobcache"), CacheSize: int64(cfg.Blobs.CacheSize),
	}, key)
}

// KeyFile is the path of the blob key cfg names: key_file, or blob.key in
// the data folder.
func KeyFile(cfg config.Config) string {
	if cfg.KeyFile != "" {
		return cfg.KeyFile
	}
	return filepath.Join(cfg.DataDir, "blob.key")
}

// KeyID names a blob key without revealing anything of it, so that a backup
// can say which key its blobs need.
func KeyID(key []byte) string {
	k, err := hkdf.Key(sha256.New, key, nil, "caduceus key id", 8)
	if err != nil {
		panic(err) // only fails for lengths over 255×32 bytes
	}
	return hex.EncodeToString(k)
}

// KeyID names the node's blob key (see KeyID).
func (n *Node) KeyID() string { return KeyID(n.key) }

// Secret derives a 32-byte secret for one purpose from the master key, the same
// on every node that shares the key.
func (n *Node) Secret(purpose string) []byte { return deriveSecret(n.key, purpose) }

func deriveSecret(master []byte, purpose string) []byte {
	k, err := hkdf.Key(sha256.New, master, nil, "caduceus "+purpose, 32)
	if err != nil {
		panic(err) // only fails for lengths over 255×32 bytes
	}
	return k
}

// Close stops the core and closes the store and blobs.
func (n *Node) Close() error {
	return errors.Join(n.Core.Close(), n.Blobs.Close(), n.Store.Close())
}

// Server is a running node with its listeners.
type Server struct {
	*Node
	log *slog.Logger
	TLS *tls.Config
	// Trust is the MSSanté trust space in force, nil unless [trust] enabled.
	Trust *trust.Space
	// clientCert is the certificate the queue presents to other operators.
	clientCert tls.Certificate
	addrs      map[string]string

	mu        sync.Mutex
	stops     []func(context.Context) error
	cancel    context.CancelFunc
	shutOnce  sync.Once
	dir       *directory.Directory
	cardCAs   *auth.CardVerifier // set when [auth.card] is configured
	compact   *compactor
	retention *retention
	draining  atomic.Bool
	notifier  *notify.Notifier
	bg        sync.WaitGroup
	serveErr  chan error
}

// Start opens the node and starts every listener cfg names. Addr tells where
// each one listens (useful with port 0 in tests).
func Start(ctx context.Context, cfg config.Config, logger *slog.Logger) (*Server, error) {
	cert, err := certs.Load(cfg.TLS.Cert, cfg.TLS.Key, cfg.DataDir, cfg.Hostname)
	if err != nil {
		return nil, err
	}
	var space *trust.Space
	var remote core.RemotePolicy
	clientCert := cert
	if cfg.Trust.Enabled {
		if space, err = OpenTrust(ctx, cfg, logger); err != nil {
			return nil, err
		}
		remote = trustPolicy{space}
		if cfg.Trust.ClientCert != "" {
			if clientCert, err = tls.LoadX509KeyPair(cfg.Trust.ClientCert, cfg.Trust.ClientKey); err != nil {
				return nil, fmt.Errorf("trust: client certificate %s: %w", cfg.Trust.ClientCert, err)
			}
		}
	}
	node, err := open(ctx, cfg, logger, remote)
	if err != nil {
		return nil, err
	}
	if cfg.MSSante.NIL == "" {
		logger.Warn("[mssante] nil is empty: messages are sent without X-MSS-NIL (Référentiel #2 ECO.2.4.3)")
	}
	bgctx, cancel := context.WithCancel(context.WithoutCancel(ctx))
	s := &Server{Node: node, log: logger, TLS: certs.ServerConfig(cert), Trust: space, clientCert: clientCert,
		addrs: map[string]string{}, cancel: cancel, serveErr: make(chan error, 16)}
	s.compact = &compactor{core: node.Core, log: logger.With("task", "compaction"), cfg: cfg.Blobs}
	s.retention = &retention{trail: node.Core.Audit(), log: logger.With("task", "audit-retention"), keep: cfg.Audit.Retention.Duration, now: time.Now,
		links: func(ctx context.Context, before time.Time) (int64, error) {
			return node.Core.PurgeExternalLinks(ctx, core.System("retention"), before)
		}}
	if err := s.startListeners(bgctx); err != nil {
		s.Shutdown(context.Background())
		return nil, err
	}
	return s, nil
}

// Addr returns the address a listener is bound to, by its config name
// ("smtp", "imaps", "https"…), or "" when it is off.
func (s *Server) Addr(name string) string { return s.addrs[name] }

// Errors receives the error of any listener that stops on its own.
func (s *Server) Errors() <-chan error { return s.serveErr }

// Shutdown stops accepting connections, lets those in flight finish until ctx
// ends, then closes the node. Later calls do nothing.
func (s *Server) Shutdown(ctx context.Context) error {
	var err error
	s.shutOnce.Do(func() { err = s.shutdown(ctx) })
	return err
}

func (s *Server) shutdown(ctx context.Context) error {
	s.draining.Store(true) // /readyz answers 503 from now on
	s.log.Info("draining: no new connections; finishing what was started")
	s.mu.Lock()
	stops := s.stops
	s.stops = nil
	s.mu.Unlock()
	var errs []error
	for i := len(stops) - 1; i >= 0; i-- {
		if err := stops[i](ctx); err != nil && !errors.Is(err, context.Canceled) {
			errs = append(errs, err)
		}
	}
	s.cancel()
	s.bg.Wait()
	errs = append(errs, s.Node.Close())
	return errors.Join(errs...)
}

func (s *Server) startListeners(ctx context.Context) error {
	l := s.Config.Listen
	if err := s.openDirectory(ctx); err != nil {
		return err
	}
	if l.LDAP != "" {
		if err := s.startLDAP(l.LDAP); err != nil {
			return err
		}
	}
	if l.HTTPS != "" {
		ln, err := s.listen("https", l.HTTPS)
		if err != nil {
			return err
		}
		h, err := s.webHandler(ctx)
		if err != nil {
			ln.Close()
			return err
		}
		s.serveHTTP(ctx, "https", ln, h, true)
	}
	s.startNotifier(ctx)
	if l.Metrics != "" {
		ln, err := s.listen("metrics", l.Metrics)
		if err != nil {
			return err
		}
		s.serveHTTP(ctx, "metrics", ln, s.metricsHandler(), false)
	}
	if err := s.startDoors(ctx); err != nil {
		return err
	}
	s.startQueue(ctx)
	s.startCompaction(ctx)
	s.startModelMigration(ctx)
	s.startRetention(ctx)
	if s.Trust != nil {
		s.serve("trust", func() error { s.Trust.Run(ctx); return nil })
	}
	return nil
}

// listen binds a listener and records its address.
func (s *Server) listen(name, addr string) (net.Listener, error) {
	ln, err := net.Listen("tcp", addr)
	if err != nil {
		return nil, fmt.Errorf("listen %s on %s: %w", name, addr, err)
	}
	s.addrs[name] = ln.Addr().String()
	s.log.Info("listening", "listener", name, "addr", ln.Addr().String())
	return ln, nil
}

// onStop registers a function Shutdown calls, in reverse order of registration.
func (s *Server) onStop(f func(context.Context) error) {
	s.mu.Lock()
	s.stops = append(s.stops, f)
	s.mu.Unlock()
}

// serve runs a door's accept loop in the background and reports its end.
func (s *Server) serve(name string, f func() error) {
	s.bg.Add(1)
	go func() {
		defer s.bg.Done()
		if err := f(); err != nil && !errors.Is(err, http.ErrServerClosed) && !errors.Is(err, net.ErrClosed) && !errors.Is(err, imap.ErrServerClosed) {
			s.log.Error("listener stopped", "listener", name, "err", err)
			select {
			case s.serveErr <- fmt.Errorf("%s: %w", name, err):
			default:
			}
		}
	}()
}

func (s *Server) serveHTTP(ctx context.Context, name string, ln net.Listener, h http.Handler, useTLS bool) {
	srv := &http.Server{
		Handler:           h,
		ReadHeaderTimeout: 10 * time.Second,
		IdleTimeout:       2 * time.Minute,
		BaseContext:       func(net.Listener) context.Context { return ctx },
		ErrorLog:          slog.NewLogLogger(s.log.Handler(), slog.LevelWarn),
	}
	if useTLS {
		srv.TLSConfig = s.TLS.Clone()
		srv.TLSConfig.NextProtos = []string{"h2", "http/1.1"}
		if name == "https" {
			s.requestCards(srv.TLSConfig)
		}
		ln = tls.NewListener(ln, srv.TLSConfig)
	}
	s.serve(name, func() error { return srv.Serve(ln) })
	s.onStop(srv.Shutdown)
}

// metricsHandler serves the metrics listener: /metrics for Prometheus,
// /healthz (the process is alive) and /readyz (store and blobs reachable,
// not draining) for load balancers and orchestrators.
func (s *Server) metricsHandler() http.Handler {
	reg := prometheus.NewRegistry()
	reg.MustRegister(collectors.NewGoCollector(), collectors.NewProcessCollector(collectors.ProcessCollectorOpts{}))
	s.registerMetrics(reg)
	s.compact.register(reg)
	s.retention.register(reg)
	if s.Trust != nil {
		s.Trust.Register(reg)
	}
	s.registerNotifier(reg)
	mux := http.NewServeMux()
	mux.Handle("GET /metrics", promhttp.HandlerFor(reg, promhttp.HandlerOpts{}))
	mux.HandleFunc("GET /healthz", func(w http.ResponseWriter, r *http.Request) {
		fmt.Fprintln(w, "ok")
	})
	mux.HandleFunc("GET /readyz", s.ready)
	return mux
}

// ready answers 200 when the node can take traffic, 503 with the reason
// otherwise. The reason names a component, never data.
func (s *Server) ready(w http.ResponseWriter, r *http.Request) {
	w.Header().Set("Cache-Control", "no-store")
	if s.draining.Load() {
		http.Error(w, "draining", http.StatusServiceUnavailable)
		return
	}
	ctx, cancel := context.WithTimeout(r.Context(), 2*time.Second)
	defer cancel()
	if err := s.Core.Ready(ctx); err != nil {
		s.log.Warn("not ready", "err", err)
		http.Error(w, "not ready: "+err.Error(), http.StatusServiceUnavailable)
		return
	}
	fmt.Fprintln(w, "ready")
}
