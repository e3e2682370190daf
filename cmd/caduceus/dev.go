package main

import (
	"context"
	"errors"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"strings"
	"text/tabwriter"
	"time"

	"caduceus/internal/config"
	"caduceus/internal/core"
	"caduceus/internal/directory/synth"
	"caduceus/internal/queue"
	"caduceus/internal/server"
)

// devDirDefault is where `caduceus dev` keeps everything.
const devDirDefault = "caduceus-dev"

// The demo organisation of `caduceus dev`.
const (
	devDomain   = "chu-demo.mssante.fr"
	devPassword = "caduceus-demo-2026"
)

var devUsers = []struct{ local, name, notify string }{
	{"claire.martin", "Dr Claire Martin", "claire.martin@perso.example"},
	{"paul.durand", "Paul Durand", "paul.durand@perso.example"},
	{"sophie.bernard", "Sophie Bernard", "sophie.bernard@perso.example"},
}

const devConfig = `# Configuration written by "caduceus dev": a demo node on loopback ports.
hostname = "localhost"
data_dir = "."

[listen]
smtp = "127.0.0.1:2525"
submission = "127.0.0.1:5587"
submissions = "127.0.0.1:5465"
imap = "127.0.0.1:1143"
imaps = "127.0.0.1:1993"
https = "127.0.0.1:8443"
metrics = "127.0.0.1:9090"
ldap = "127.0.0.1:3389"
managesieve = "127.0.0.1:4190"

# The demo users' password also opens IMAP and SMTP submission, so that any
# mail client works at once. Production keeps the default (false): mail
# clients use a device credential ("Appareils mobiles" in the web app).
[auth]
account_password_for_mail = true

[dev]
outbox = "outbox"
`

func cmdDev(ctx context.Context, e env, args []string) error {
	f := newFlags(e, "dev", "dev [--dir DIR]", 0)
	dir := f.String("dir", devDirDefault, "where the demo node keeps its data and configuration")
	if _, err := f.parse(args); err != nil {
		return err
	}
	if err := os.MkdirAll(*dir, 0o700); err != nil {
		return err
	}
	cfgPath := filepath.Join(*dir, "caduceus.toml")
	if _, err := os.Stat(cfgPath); errors.Is(err, os.ErrNotExist) {
		if err := os.WriteFile(cfgPath, []byte(devConfig), 0o600); err != nil {
			return err
		}
	}
	if *f.configPath != "" {
		cfgPath = *f.configPath
	}
	cfg, err := config.Load(cfgPath)
	if err != nil {
		return err
	}
	if cfg.Dev.Outbox == "" {
		cfg.Dev.Outbox = "outbox"
	}
	if cfg.MSSante.NIL == "" {
		cfg.MSSante.NIL = "CADUCEUS-DEV"
	}
	// The demo users log in to IMAP and SMTP with their password, even
	// from a configuration written before the setting existed.
	cfg.Auth.AccountPasswordForMail = true
	if !filepath.IsAbs(cfg.Dev.Outbox) {
		cfg.Dev.Outbox = filepath.Join(cfg.DataDir, cfg.Dev.Outbox)
	}
	return serve(ctx, e, cfg, func(srv *server.Server) {
		if err := seedDev(ctx, srv); err != nil {
			fmt.Fprintf(e.stderr, "seed demo data: %v\n", err)
		}
		printDev(e, srv, *dir, cfgPath)
	})
}

// seedDev creates the demo organisation on first start, and fills the
// directory with synthetic professionals.
func seedDev(ctx context.Context, srv *server.Server) error {
	svc := srv.Core
	ds, err := svc.Domains(ctx)
	if err != nil || len(ds) > 0 {
		return err
	}
	files, err := synth.Write(ctx, filepath.Join(srv.Config.DataDir, "annuaire-demo"), 5000, 1)
	if err != nil {
		return fmt.Errorf("synthetic directory: %w", err)
	}
	if _, err := srv.Directory().Import(ctx, files, io.Discard); err != nil {
		return fmt.Errorf("import synthetic directory: %w", err)
	}
	sys := core.System("dev")
	if err := svc.AddDomain(ctx, sys, devDomain); err != nil {
		return err
	}
	for _, u := range devUsers {
		if _, err := svc.AddUser(ctx, sys, core.NewUser{Address: u.local + "@" + devDomain, Name: u.name, Password: devPassword, NotifyEmail: u.notify}); err != nil {
			return err
		}
	}
	org, err := svc.AddMailbox(ctx, sys, "cardiologie@"+devDomain, core.KindOrganisational, "Service de cardiologie", "")
	if err != nil {
		return err
	}
	member, _ := core.ParseRights("member")
	for _, who := range []string{"claire.martin", "sophie.bernard"} {
		if err := svc.SetRights(ctx, sys, org.ID, who+"@"+devDomain, member); err != nil {
			return err
		}
	}
	if _, err := svc.AddMailbox(ctx, sys, "labo@"+devDomain, core.KindApplicative, "Laboratoire (application)", ""); err != nil {
		return err
	}
	for i, m := range devMessages {
		data := fmt.Sprintf("From: %s\r\nTo: %s\r\nSubject: %s\r\nDate: %s\r\nMessage-ID: <demo-%d@%s>\r\nMIME-Version: 1.0\r\nContent-Type: text/plain; charset=utf-8\r\n\r\n%s\r\n",
			m.from, m.to, mimeWord(m.subject), time.Now().Add(-time.Duration(len(devMessages)-i)*time.Hour).Format(time.RFC1123Z), i, devDomain, m.body)
		if err := svc.Deliver(ctx, sys, core.Delivery{MailFrom: "demo@" + devDomain, Recipients: []string{m.to}, Data: []byte(data)}); err != nil {
			return err
		}
	}
	return nil
}

var devMessages = []struct{ from, to, subject, body string }{
	{"Laboratoire <labo@" + devDomain + ">", "claire.martin@" + devDomain, "Résultats disponibles", "Bonjour,\r\n\r\nDes résultats de biologie sont disponibles (message de démonstration).\r\n"},
	{"Paul Durand <paul.durand@" + devDomain + ">", "claire.martin@" + devDomain, "Transmission de garde", "Bonjour Claire,\r\n\r\nRien de particulier cette nuit (message de démonstration).\r\n"},
	{"Accueil <accueil@clinique-exemple.mssante.fr>", "cardiologie@" + devDomain, "Demande de rendez-vous", "Bonjour,\r\n\r\nMerci de proposer un créneau (message de démonstration).\r\n"},
}

// mimeWord encodes a header value as an RFC 2047 word when it is not ASCII.
func mimeWord(s string) string {
	for _, r := range s {
		if r > 127 {
			return "=?utf-8?q?" + qEncode(s) + "?="
		}
	}
	return s
}

func qEncode(s string) string {
	var b strings.Builder
	for _, c := range []byte(s) {
		switch {
		case c == ' ':
			b.WriteByte('_')
		case c >= 'a' && c <= 'z' || c >= 'A' && c <= 'Z' || c >= '0' && c <= '9':
			b.WriteByte(c)
		default:
			fmt.Fprintf(&b, "=%02X", c)
		}
	}
	return b.String()
}

func printDev(e env, srv *server.Server, dir, cfgPath string) {
	w := e.stdout
	fmt.Fprintf(w, "\nCaduceus demo node is running (data in %s, Ctrl-C to stop).\n\n", srv.Config.DataDir)
	if srv.Addr("https") != "" {
		fmt.Fprintf(w, "  Web app     %s/   (self-signed certificate; passkeys work at this address)\n", srv.BaseURL())
	}
	for _, l := range []struct{ name, label string }{
		{"smtp", "SMTP MX"}, {"submission", "Submission (STARTTLS)"}, {"submissions", "Submission (TLS)"},
		{"imap", "IMAP (STARTTLS)"}, {"imaps", "IMAP (TLS)"}, {"ldap", "LDAP directory"}, {"metrics", "Metrics"},
	} {
		if a := srv.Addr(l.name); a != "" {
			fmt.Fprintf(w, "  %-22s %s\n", l.label, a)
		}
	}
	fmt.Fprintf(w, "\nDemo users (password %q; the demo also accepts it over IMAP and SMTP:\n[auth] account_password_for_mail = true, which production leaves off, asking for a device\ncredential from \"Appareils mobiles\" in the web app or caduceus device add):\n", devPassword)
	for _, u := range devUsers {
		fmt.Fprintf(w, "  %-40s %s\n", u.local+"@"+devDomain, u.name)
	}
	fmt.Fprintf(w, "Organisational mailbox cardiologie@%s: claire.martin and sophie.bernard are members.\n", devDomain)
	fmt.Fprintf(w, "The directory holds 5,000 synthetic professionals (Annuaires in the web app, LDAP base %s).\n", srv.Config.Directory.LDAPBaseDN)
	fmt.Fprintf(w, "\nMail to other domains lands in the dev outbox: caduceus dev outbox --dir %s\n", dir)
	fmt.Fprintf(w, "Administer this node: caduceus user list --config %s\n\n", cfgPath)
}

func cmdDevOutbox(ctx context.Context, e env, args []string) error {
	f := newFlags(e, "dev outbox", "dev outbox [--dir DIR]", 0)
	dir := f.String("dir", devDirDefault, "the demo node's directory")
	if _, err := f.parse(args); err != nil {
		return err
	}
	msgs, err := queue.ReadOutbox(filepath.Join(*dir, "outbox"))
	if err != nil {
		return err
	}
	if len(msgs) == 0 {
		fmt.Fprintln(e.stdout, "dev outbox empty")
		return nil
	}
	tw := tabwriter.NewWriter(e.stdout, 0, 4, 2, ' ', 0)
	fmt.Fprintln(tw, "TIME\tFROM\tTO\tSUBJECT\tFILE")
	for _, m := range msgs {
		fmt.Fprintf(tw, "%s\t%s\t%s\t%s\t%s\n", m.Time.Format(time.DateTime), m.From, strings.Join(m.To, ", "), m.Subject, m.Path)
	}
	return tw.Flush()
}
