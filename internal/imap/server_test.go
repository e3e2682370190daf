package imap

import (
	"context"
	"crypto/tls"
	"net"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/emersion/go-imap/v2"
	"github.com/emersion/go-imap/v2/imapclient"

	"caduceus/internal/certs/certstest"
	"caduceus/internal/core"
	"caduceus/internal/core/coretest"
)

// clientTLS trusts the test server's certificate.
var clientTLS = &tls.Config{InsecureSkipVerify: true}

// testServer is a core on a temporary store and an IMAP server over it
// on 127.0.0.1.
type testServer struct {
	svc  *core.Service
	srv  *Server
	addr string
}

func startServer(t *testing.T) *testServer {
	t.Helper()
	return startServerWith(t, Options{})
}

// startServerWith starts a server with opts, given a host name and a
// certificate.
func startServerWith(t testing.TB, opts Options) *testServer {
	t.Helper()
	return startServerOver(t, coretest.New(t, coretest.Options{}), opts)
}

// startServerOver is startServerWith over a core the test made itself (with
// its own clock, say).
func startServerOver(t testing.TB, svc *core.Service, opts Options) *testServer {
	t.Helper()
	opts.Hostname, opts.TLS = "imap.test", testTLS(t)
	srv := NewServer(svc, opts)
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	go srv.Serve(ln)
	t.Cleanup(func() {
		ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
		defer cancel()
		srv.Shutdown(ctx)
	})
	return &testServer{svc: svc, srv: srv, addr: ln.Addr().String()}
}

// testTLS is the test server's configuration: a fresh self-signed
// certificate (clients here do not check it).
func testTLS(t testing.TB) *tls.Config {
	t.Helper()
	server, _ := certstest.TLS(t)
	return server
}

// dial connects with STARTTLS and logs in as local@Domain.
func (ts *testServer) dial(t *testing.T, local string, handler *imapclient.UnilateralDataHandler) *imapclient.Client {
	t.Helper()
	c, err := imapclient.DialStartTLS(ts.addr, &imapclient.Options{
		TLSConfig:             &tls.Config{InsecureSkipVerify: true},
		UnilateralDataHandler: handler,
	})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { c.Close() })
	if err := c.Login(local+"@"+coretest.Domain, coretest.Password).Wait(); err != nil {
		t.Fatalf("login as %s: %v", local, err)
	}
	return c
}

func (ts *testServer) appendMsg(t *testing.T, c *imapclient.Client, mailbox, msg string) imap.UID {
	t.Helper()
	cmd := c.Append(mailbox, int64(len(msg)), nil)
	cmd.Write([]byte(msg))
	cmd.Close()
	data, err := cmd.Wait()
	if err != nil {
		t.Fatalf("APPEND: %v", err)
	}
	return data.UID
}

const testMsg = "From: Dr. House <house@example.org>\r\nTo: alice@test.mssante.fr\r\nSubject: Bilan sanguin\r\n" +
	"Date: Mon, 4 Mar 2024 10:00:00 +0100\r\nMessage-ID: <a1@example.org>\r\n\r\nRésultats normaux.\r\n"

func TestLoginNeedsTLS(t *testing.T) {
	ts := startServer(t)
	coretest.User(t, ts.svc, "alice", "Alice")
	c, err := imapclient.DialInsecure(ts.addr, nil)
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	if err := c.WaitGreeting(); err != nil {
		t.Fatal(err)
	}
	if !c.Caps().Has(imap.CapLoginDisabled) || !c.Caps().Has(imap.CapStartTLS) {
		t.Errorf("caps before TLS = %v, want LOGINDISABLED and STARTTLS", c.Caps())
	}
	if err := c.Login("alice@"+coretest.Domain, coretest.Password).Wait(); err == nil {
		t.Error("LOGIN without TLS succeeded")
	}
	tc := ts.dial(t, "alice", nil)
	caps, err := tc.Capability().Wait()
	if err != nil {
		t.Fatal(err)
	}
	for _, want := range []imap.Cap{imap.CapIMAP4rev2, imap.CapIdle, imap.CapNamespace, imap.CapUIDPlus, imap.CapMove,
		imap.CapCondStore, imap.CapQResync, imap.CapACL, imap.CapQuota, imap.CapESearch, imap.CapListStatus, imap.CapSpecialUse} {
		if !caps.Has(want) {
			t.Errorf("capability %s missing", want)
		}
	}
	if err := tc.Logout().Wait(); err != nil {
		t.Errorf("LOGOUT: %v", err)
	}
}

func TestMailboxAndMessages(t *testing.T) {
	ts := startServer(t)
	coretest.User(t, ts.svc, "alice", "Alice")
	c := ts.dial(t, "alice", nil)

	if err := c.Create("Projets/2026", nil).Wait(); err != nil {
		t.Fatalf("CREATE: %v", err)
	}
	if err := c.Create("Archives", &imap.CreateOptions{SpecialUse: []imap.MailboxAttr{imap.MailboxAttrArchive}}).Wait(); err != nil {
		t.Fatalf("CREATE-SPECIAL-USE: %v", err)
	}
	list, err := c.List("", "*", &imap.ListOptions{ReturnStatus: &imap.StatusOptions{NumMessages: true}}).Collect()
	if err != nil {
		t.Fatalf("LIST: %v", err)
	}
	names := map[string]*imap.ListData{}
	for _, l := range list {
		names[l.Mailbox] = l
	}
	for _, want := range []string{"INBOX", "Projets", "Projets/2026", "Archives"} {
		if names[want] == nil {
			t.Errorf("LIST lacks %s: %v", want, names)
		}
	}
	if l := names["Archives"]; l != nil && !hasAttr(l.Attrs, imap.MailboxAttrArchive) {
		t.Errorf("Archives attrs = %v", l.Attrs)
	}
	if l := names["INBOX"]; l != nil && (l.Status == nil || l.Status.NumMessages == nil) {
		t.Errorf("LIST-STATUS missing for INBOX")
	}

	uid := ts.appendMsg(t, c, "INBOX", testMsg)
	if uid == 0 {
		t.Fatal("APPEND gave no APPENDUID")
	}
	sel, err := c.Select("INBOX", &imap.SelectOptions{CondStore: true}).Wait()
	if err != nil {
		t.Fatalf("SELECT: %v", err)
	}
	if sel.NumMessages != 1 || len(sel.PermanentFlags) == 0 {
		t.Errorf("SELECT = %+v", sel)
	}
	msgs, err := c.Fetch(imap.UIDSetNum(uid), &imap.FetchOptions{
		Flags: true, Envelope: true, BodyStructure: &imap.FetchItemBodyStructure{Extended: true}, RFC822Size: true, ModSeq: true,
		BodySection: []*imap.FetchItemBodySection{{Peek: true}, {Specifier: imap.PartSpecifierHeader, HeaderFields: []string{"Subject"}, Peek: true}},
	}).Collect()
	if err != nil || len(msgs) != 1 {
		t.Fatalf("FETCH: %v, %d messages", err, len(msgs))
	}
	m := msgs[0]
	if m.Envelope == nil || m.Envelope.Subject != "Bilan sanguin" || len(m.Envelope.From) != 1 || m.Envelope.From[0].Host != "example.org" {
		t.Errorf("ENVELOPE = %+v", m.Envelope)
	}
	if bs, ok := m.BodyStructure.(*imap.BodyStructureSinglePart); !ok || bs.Type != "TEXT" && bs.Type != "text" {
		t.Errorf("BODYSTRUCTURE = %#v", m.BodyStructure)
	}
	if m.RFC822Size != int64(len(testMsg)) || m.ModSeq == 0 {
		t.Errorf("RFC822.SIZE = %d, MODSEQ = %d", m.RFC822Size, m.ModSeq)
	}
	for _, sec := range m.BodySection {
		got := string(sec.Bytes)
		if sec.Section.Specifier == imap.PartSpecifierHeader {
			if got != "Subject: Bilan sanguin\r\n\r\n" {
				t.Errorf("HEADER.FIELDS = %q", got)
			}
		} else if got != testMsg {
			t.Errorf("BODY[] = %q", got)
		}
	}
	if err := c.Store(imap.UIDSetNum(uid), &imap.StoreFlags{Op: imap.StoreFlagsAdd, Flags: []imap.Flag{imap.FlagFlagged, "$Urgent"}}, nil).Close(); err != nil {
		t.Fatalf("STORE: %v", err)
	}
	found, err := c.UIDSearch(&imap.SearchCriteria{Flag: []imap.Flag{imap.FlagFlagged}, Header: []imap.SearchCriteriaHeaderField{{Key: "Subject", Value: "sanguin"}}}, nil).Wait()
	if err != nil || len(found.AllUIDs()) != 1 {
		t.Errorf("SEARCH = %v, %v", found, err)
	}
	copied, err := c.Copy(imap.UIDSetNum(uid), "Archives").Wait()
	if err != nil || copied.UIDValidity == 0 {
		t.Errorf("COPY = %+v, %v", copied, err)
	}
	if _, err := c.Move(imap.UIDSetNum(uid), "Projets/2026").Wait(); err != nil {
		t.Errorf("MOVE: %v", err)
	}
	st, err := c.Status("Projets/2026", &imap.StatusOptions{NumMessages: true, Size: true, HighestModSeq: true}).Wait()
	if err != nil || *st.NumMessages != 1 || *st.Size == 0 {
		t.Errorf("STATUS = %+v, %v", st, err)
	}
	if err := c.Unselect().Wait(); err != nil {
		t.Errorf("UNSELECT: %v", err)
	}
	if _, err := c.Select("Archives", nil).Wait(); err != nil {
		t.Fatal(err)
	}
	if err := c.Store(imap.SeqSetNum(1), &imap.StoreFlags{Op: imap.StoreFlagsAdd, Flags: []imap.Flag{imap.FlagDeleted}, Silent: true}, nil).Close(); err != nil {
		t.Fatal(err)
	}
	expunged, err := c.Expunge().Collect()
	if err != nil || len(expunged) != 1 {
		t.Errorf("EXPUNGE = %v, %v", expunged, err)
	}
}

func hasAttr(attrs []imap.MailboxAttr, want imap.MailboxAttr) bool {
	for _, a := range attrs {
		if strings.EqualFold(string(a), string(want)) {
			return true
		}
	}
	return false
}

func TestExamineIsReadOnly(t *testing.T) {
	ts := startServer(t)
	coretest.User(t, ts.svc, "alice", "Alice")
	c := ts.dial(t, "alice", nil)
	ts.appendMsg(t, c, "INBOX", testMsg)
	sel, err := c.Select("INBOX", &imap.SelectOptions{ReadOnly: true}).Wait()
	if err != nil || len(sel.PermanentFlags) != 0 {
		t.Fatalf("EXAMINE = %+v, %v", sel, err)
	}
	if _, err := c.Fetch(imap.SeqSetNum(1), &imap.FetchOptions{BodySection: []*imap.FetchItemBodySection{{}}}).Collect(); err != nil {
		t.Fatal(err)
	}
	if err := c.Store(imap.SeqSetNum(1), &imap.StoreFlags{Op: imap.StoreFlagsAdd, Flags: []imap.Flag{imap.FlagDeleted}}, nil).Close(); err == nil {
		t.Error("STORE in an EXAMINEd mailbox succeeded")
	}
	if _, err := c.Expunge().Collect(); err == nil {
		t.Error("EXPUNGE in an EXAMINEd mailbox succeeded")
	}
	msgs, err := c.Fetch(imap.SeqSetNum(1), &imap.FetchOptions{Flags: true}).Collect()
	if err != nil || len(msgs) != 1 || slices.Contains(msgs[0].Flags, imap.FlagSeen) {
		t.Errorf("flags after a read-only BODY[] fetch = %v, %v; want none (no implicit \\Seen)", msgs, err)
	}
}
