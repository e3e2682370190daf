package server_test

import (
	"bufio"
	"context"
	"crypto/tls"
	"fmt"
	"io"
	"log/slog"
	"net"
	"net/http"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	gosmtp "github.com/emersion/go-smtp"
	"github.com/go-ldap/ldap/v3"

	"caduceus/internal/audit"
	"caduceus/internal/core"
	"caduceus/internal/directory"
	"caduceus/internal/server"
	"caduceus/internal/server/servertest"
)

func TestListenersHealthAndMetrics(t *testing.T) {
	srv := servertest.Start(t, servertest.Options{Users: []string{"alice"}})
	for _, name := range []string{"smtp", "submission", "submissions", "imap", "imaps", "https", "metrics", "managesieve"} {
		if srv.Addr(name) == "" {
			t.Errorf("listener %s is not up", name)
		}
	}
	client := &http.Client{Transport: &http.Transport{TLSClientConfig: servertest.ClientTLS(t, srv)}}
	resp, err := client.Get("https://" + srv.Addr("https") + "/healthz")
	if err != nil {
		t.Fatal(err)
	}
	body, _ := io.ReadAll(resp.Body)
	resp.Body.Close()
	if resp.StatusCode != 200 || strings.TrimSpace(string(body)) != "ok" {
		t.Fatalf("healthz = %d %q", resp.StatusCode, body)
	}
	resp, err = http.Get("http://" + srv.Addr("metrics") + "/metrics")
	if err != nil {
		t.Fatal(err)
	}
	body, _ = io.ReadAll(resp.Body)
	resp.Body.Close()
	for _, want := range []string{"caduceus_queue_messages", "caduceus_commits_total", "caduceus_commit_retries_total", "caduceus_blob_bytes_reclaimed_total", "go_goroutines"} {
		if !strings.Contains(string(body), want) {
			t.Errorf("metrics lack %s", want)
		}
	}
}

// The MSSanté client référentiel (ECO.1.1.2) wants TLS 1.2 at least: older
// clients are refused on every TLS listener.
func TestTLSPolicy(t *testing.T) {
	srv := servertest.Start(t, servertest.Options{})
	for _, name := range []string{"https", "imaps", "submissions"} {
		cfg := servertest.ClientTLS(t, srv)
		cfg.MinVersion, cfg.MaxVersion = tls.VersionTLS10, tls.VersionTLS11
		conn, err := tls.Dial("tcp", srv.Addr(name), cfg)
		if err == nil {
			conn.Close()
			t.Errorf("%s accepted TLS 1.1", name)
		}
		cfg = servertest.ClientTLS(t, srv)
		cfg.MaxVersion = tls.VersionTLS12
		conn, err = tls.Dial("tcp", srv.Addr(name), cfg)
		if err != nil {
			t.Errorf("%s refused TLS 1.2: %v", name, err)
			continue
		}
		if s := conn.ConnectionState().CipherSuite; s != tls.TLS_ECDHE_ECDSA_WITH_AES_128_GCM_SHA256 && s != tls.TLS_ECDHE_ECDSA_WITH_AES_256_GCM_SHA384 {
			t.Errorf("%s negotiated %s", name, tls.CipherSuiteName(s))
		}
		conn.Close()
	}
}

func TestShutdownClosesListeners(t *testing.T) {
	srv := servertest.Start(t, servertest.Options{})
	addr := srv.Addr("smtp")
	c, err := net.Dial("tcp", addr)
	if err != nil {
		t.Fatal(err)
	}
	c.Close()
	if err := srv.Shutdown(t.Context()); err != nil {
		t.Fatal(err)
	}
	if c, err := net.Dial("tcp", addr); err == nil {
		c.Close()
		t.Fatal("SMTP still accepts after shutdown")
	}
}

// A node on PostgreSQL takes mail over SMTP like one on SQLite.
func TestPostgresNodeDelivers(t *testing.T) {
	srv := servertest.Start(t, servertest.Options{Engine: "postgres", Users: []string{"alice"}})
	c, err := gosmtp.Dial(srv.Addr("smtp"))
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	msg := "From: lab@remote.example\r\nTo: alice@test.mssante.fr\r\nSubject: pg\r\nMessage-ID: <pg@test>\r\n\r\nbody\r\n"
	if err := c.SendMail("lab@remote.example", []string{"alice@" + servertest.Domain}, strings.NewReader(msg)); err != nil {
		t.Fatal(err)
	}
	alice := servertest.Actor(t, srv, "alice")
	mb, err := srv.Core.MailboxByAddress(t.Context(), alice, "alice@"+servertest.Domain)
	if err != nil {
		t.Fatal(err)
	}
	inbox, err := srv.Core.FolderByName(t.Context(), alice, mb.ID, "INBOX")
	if err != nil || inbox.Messages != 1 {
		t.Fatalf("inbox = %+v, %v", inbox, err)
	}
}

// The node's LDAP view answers a bound client with the directory's entries,
// and refuses a wrong password.
func TestLDAPView(t *testing.T) {
	srv := servertest.Start(t, servertest.Options{Users: []string{"alice"}})
	err := srv.Directory().UpsertLocal(t.Context(), directory.LocalEntry{Key: "house@" + servertest.Domain, Listed: true, Entry: directory.Entry{
		LastName: "House", FirstName: "Gregory", Mailbox: "house@" + servertest.Domain, MailboxKind: "PER", City: "PRINCETON",
	}})
	if err != nil {
		t.Fatal(err)
	}
	conn, err := ldap.DialURL("ldap://" + srv.Addr("ldap"))
	if err != nil {
		t.Fatal(err)
	}
	defer conn.Close()
	if err := conn.StartTLS(servertest.ClientTLS(t, srv)); err != nil {
		t.Fatalf("starttls: %v", err)
	}
	if err := conn.Bind("alice@"+servertest.Domain, "wrong password"); err == nil {
		t.Fatal("bind with a wrong password succeeded")
	}
	if err := conn.Bind("alice@"+servertest.Domain, servertest.Password); err != nil {
		t.Fatalf("bind: %v", err)
	}
	res, err := conn.Search(ldap.NewSearchRequest(srv.Config.Directory.LDAPBaseDN, ldap.ScopeWholeSubtree, ldap.NeverDerefAliases, 10, 0, false,
		"(|(cn=hous*)(mail=hous*))", []string{"cn", "mail"}, nil))
	if err != nil {
		t.Fatalf("search: %v", err)
	}
	if len(res.Entries) != 1 || res.Entries[0].GetAttributeValue("mail") != "house@"+servertest.Domain {
		t.Fatalf("entries = %d, first %v", len(res.Entries), res.Entries)
	}
}

// ldapFrom dials the node's LDAP view from the loopback address ip (all of
// 127/8 is the machine's own) and says STARTTLS.
func ldapFrom(t *testing.T, srv *server.Server, ip string) *ldap.Conn {
	t.Helper()
	d := &net.Dialer{LocalAddr: &net.TCPAddr{IP: net.ParseIP(ip)}, Timeout: 5 * time.Second}
	conn, err := ldap.DialURL("ldap://"+srv.Addr("ldap"), ldap.DialWithDialer(d))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { conn.Close() })
	if err := conn.StartTLS(servertest.ClientTLS(t, srv)); err != nil {
		t.Fatalf("starttls: %v", err)
	}
	return conn
}

// An LDAP bind reaches the core with the client's address: failures from one
// address do not lock out binds from another, and the audit trail names the
// address of each try. The guesser goes on until its address is locked out
// (the tries past the free ones are refused unchecked, so this is quick).
func TestLDAPBindsCountByAddress(t *testing.T) {
	srv := servertest.Start(t, servertest.Options{Users: []string{"alice"}})
	guesser := ldapFrom(t, srv, "127.0.0.2")
	lockAfter := core.DefaultLoginPolicy().AddressLockAfter
	for i := range lockAfter {
		if err := guesser.Bind(fmt.Sprintf("guess%d@%s", i, servertest.Domain), "wrong password"); err == nil {
			t.Fatal("bind with a wrong password succeeded")
		}
	}
	// The guessing address is locked out, even with the right password.
	if err := guesser.Bind("alice@"+servertest.Domain, servertest.Password); err == nil {
		t.Errorf("bind %d from 127.0.0.2 was let through", lockAfter+1)
	}
	if err := ldapFrom(t, srv, "127.0.0.3").Bind("alice@"+servertest.Domain, servertest.Password); err != nil {
		t.Fatalf("bind from 127.0.0.3 after %d failures from 127.0.0.2: %v", lockAfter, err)
	}
	entries, err := srv.Core.Audit().List(t.Context(), audit.Query{Action: "login", Limit: 1000})
	if err != nil {
		t.Fatal(err)
	}
	remotes := map[string]int{}
	for _, e := range entries {
		if e.Door == "ldap" {
			remotes[e.Remote]++
		}
	}
	if remotes["127.0.0.2"] != lockAfter+1 || remotes["127.0.0.3"] != 1 || len(remotes) != 2 {
		t.Errorf("LDAP login entries by remote address = %v, want %d from 127.0.0.2 and 1 from 127.0.0.3", remotes, lockAfter+1)
	}
}

// /healthz says the process lives; /readyz that the node can take traffic:
// store and blobs reachable, not draining.
func TestReadiness(t *testing.T) {
	srv := servertest.Start(t, servertest.Options{})
	base := "http://" + srv.Addr("metrics")
	if code, body := get(t, base+"/healthz"); code != 200 || body != "ok" {
		t.Fatalf("healthz = %d %q", code, body)
	}
	if code, body := get(t, base+"/readyz"); code != 200 || body != "ready" {
		t.Fatalf("readyz = %d %q", code, body)
	}
	// The blob directory disappears (a volume unmounted): not ready, and says why.
	blobs := filepath.Join(srv.Config.DataDir, "blobs")
	if err := os.Rename(blobs, blobs+".away"); err != nil {
		t.Fatal(err)
	}
	if code, body := get(t, base+"/readyz"); code != 503 || !strings.Contains(body, "blob store") {
		t.Fatalf("readyz without blobs = %d %q", code, body)
	}
	if err := os.Rename(blobs+".away", blobs); err != nil {
		t.Fatal(err)
	}
	if code, _ := get(t, base+"/readyz"); code != 200 {
		t.Fatalf("readyz with the blobs back = %d", code)
	}
}

// SIGTERM drains a node: IMAP clients are told BYE, /readyz answers 503 at
// once, and an SMTP message whose DATA had begun still finishes and is kept.
func TestShutdownDrains(t *testing.T) {
	srv := servertest.Start(t, servertest.Options{Users: []string{"alice"}})
	c, err := gosmtp.Dial(srv.Addr("smtp"))
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	if err := c.Mail("lab@remote.example", nil); err != nil {
		t.Fatal(err)
	}
	if err := c.Rcpt("alice@"+servertest.Domain, nil); err != nil {
		t.Fatal(err)
	}
	w, err := c.Data() // the server answered 354: this transaction is under way
	if err != nil {
		t.Fatal(err)
	}
	imapConn, err := net.Dial("tcp", srv.Addr("imap"))
	if err != nil {
		t.Fatal(err)
	}
	defer imapConn.Close()
	r := bufio.NewReader(imapConn)
	if greeting, err := r.ReadString('\n'); err != nil || !strings.HasPrefix(greeting, "* OK") {
		t.Fatalf("greeting %q, %v", greeting, err)
	}

	done := make(chan error, 1)
	go func() { done <- srv.Shutdown(context.Background()) }()
	imapConn.SetReadDeadline(time.Now().Add(10 * time.Second))
	if bye, err := r.ReadString('\n'); err != nil || !strings.HasPrefix(bye, "* BYE") {
		t.Fatalf("IMAP client got %q, %v; want BYE", bye, err)
	}
	if code, body := get(t, "http://"+srv.Addr("metrics")+"/readyz"); code != 503 || body != "draining" {
		t.Fatalf("readyz while draining = %d %q", code, body)
	}
	io.WriteString(w, "From: lab@remote.example\r\nSubject: drain\r\nMessage-ID: <drain@test>\r\n\r\nresult\r\n")
	if err := w.Close(); err != nil {
		t.Fatalf("DATA during the drain: %v", err)
	}
	c.Quit()
	select {
	case err := <-done:
		if err != nil {
			t.Fatal(err)
		}
	case <-time.After(30 * time.Second):
		t.Fatal("shutdown did not end after the last session")
	}
	n, err := server.Open(context.Background(), srv.Config, slog.New(slog.DiscardHandler))
	if err != nil {
		t.Fatal(err)
	}
	defer n.Close()
	ctx := context.Background()
	a, err := n.Core.User(ctx, "alice@"+servertest.Domain)
	if err != nil {
		t.Fatal(err)
	}
	alice := core.Actor{AccountID: a.ID, Address: a.Address, Door: "test"}
	mb, err := n.Core.MailboxByAddress(ctx, alice, a.Address)
	if err != nil {
		t.Fatal(err)
	}
	if inbox, err := n.Core.FolderByName(ctx, alice, mb.ID, "INBOX"); err != nil || inbox.Messages != 1 {
		t.Fatalf("after the drain, inbox = %+v, %v; want the message sent during it", inbox, err)
	}
}

// get fetches url and returns its status and trimmed body.
func get(t *testing.T, url string) (int, string) {
	t.Helper()
	resp, err := http.Get(url)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	b, err := io.ReadAll(resp.Body)
	if err != nil {
		t.Fatal(err)
	}
	return resp.StatusCode, strings.TrimSpace(string(b))
}

// A message that arrives over SMTP gives its reader a notification mail, on
// its way within seconds, that links to it and says nothing of it.
func TestArrivalIsNotified(t *testing.T) {
	srv := servertest.Start(t, servertest.Options{Users: []string{"alice"}})
	c, err := gosmtp.Dial(srv.Addr("smtp"))
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	msg := "From: lab@remote.example\r\nTo: alice@test.mssante.fr\r\nSubject: Bilan de M. Hubert Lachaise\r\nMessage-ID: <n1@lab>\r\n\r\nbody\r\n"
	if err := c.SendMail("lab@remote.example", []string{"alice@" + servertest.Domain}, strings.NewReader(msg)); err != nil {
		t.Fatal(err)
	}
	sys := core.System("test")
	deadline := time.Now().Add(10 * time.Second)
	for {
		queued, err := srv.Core.OutboundList(t.Context(), sys)
		if err != nil {
			t.Fatal(err)
		}
		if len(queued) == 1 && queued[0].Rcpt == "alice@notify.example" {
			r, err := srv.Core.OpenOutbound(t.Context(), queued[0].ID)
			if err != nil {
				t.Fatal(err)
			}
			b, err := io.ReadAll(r)
			if err != nil {
				t.Fatal(err)
			}
			if strings.Contains(string(b), "Lachaise") || !strings.Contains(string(b), "/m/") {
				t.Fatalf("notification:\n%s", b)
			}
			return
		}
		if time.Now().After(deadline) {
			t.Fatalf("no notification queued 10 s after the delivery; queue: %+v", queued)
		}
		time.Sleep(100 * time.Millisecond)
	}
}
