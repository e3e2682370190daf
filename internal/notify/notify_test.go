package notify_test

import (
	"context"
	"fmt"
	"io"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/emersion/go-message/mail"

	"caduceus/internal/core"
	"caduceus/internal/core/coretest"
	"caduceus/internal/notify"
	"caduceus/internal/store/storetest"
)

// clock is a test clock the core and the test share.
type clock struct {
	mu  sync.Mutex
	now time.Time
}

func (c *clock) Now() time.Time { c.mu.Lock(); defer c.mu.Unlock(); return c.now }
func (c *clock) Add(d time.Duration) {
	c.mu.Lock()
	c.now = c.now.Add(d)
	c.mu.Unlock()
}

type env struct {
	svc   *core.Service
	clock *clock
	n     *notify.Notifier
	sys   core.Actor
}

func newEnv(t *testing.T, engine string) *env {
	c := &clock{now: time.Date(2026, 12, 3, 8, 0, 0, 0, time.UTC)}
	svc := coretest.New(t, coretest.Options{Engine: engine, Now: c.Now})
	e := &env{svc: svc, clock: c, sys: core.System("test")}
	e.n = notify.New(svc, notify.Options{BaseURL: "https://messagerie.test", From: "noreply@mx.test", Hostname: "mx.test"})
	return e
}

func (e *env) user(t *testing.T, local, notifyTo string) core.Actor {
	t.Helper()
	ctx := context.Background()
	a, err := e.svc.AddUser(ctx, e.sys, core.NewUser{Address: local + "@" + coretest.Domain, Name: local, NotifyEmail: notifyTo})
	if err != nil {
		t.Fatal(err)
	}
	return core.Actor{AccountID: a.ID, Address: a.Address, Door: "test"}
}

func (e *env) deliver(t *testing.T, to, subject, body string) {
	t.Helper()
	data := "From: secretariat@clinique.example\r\nTo: " + to + "\r\nSubject: " + subject + "\r\nMessage-ID: <" + strings.ReplaceAll(subject, " ", ".") + "@clinique>\r\n\r\n" + body + "\r\n"
	if err := e.svc.Deliver(context.Background(), e.sys, core.Delivery{Recipients: []string{to}, Data: []byte(data)}); err != nil {
		t.Fatal(err)
	}
}

// inbox lists the messages in a's INBOX.
func (e *env) inbox(t *testing.T, a core.Actor) []core.Message {
	t.Helper()
	ctx := context.Background()
	mb, err := e.svc.MailboxByAddress(ctx, a, a.Address)
	if err != nil {
		t.Fatal(err)
	}
	f, err := e.svc.FolderByName(ctx, a, mb.ID, "INBOX")
	if err != nil {
		t.Fatal(err)
	}
	msgs, err := e.svc.Messages(ctx, a, f.ID, core.MessageQuery{})
	if err != nil {
		t.Fatal(err)
	}
	return msgs
}

// sent returns the notification mails queued so far, by recipient.
func (e *env) sent(t *testing.T) map[string][]string {
	t.Helper()
	ctx := context.Background()
	list, err := e.svc.OutboundList(ctx, e.sys)
	if err != nil {
		t.Fatal(err)
	}
	out := map[string][]string{}
	for _, o := range list {
		r, err := e.svc.OpenOutbound(ctx, o.ID)
		if err != nil {
			t.Fatal(err)
		}
		out[o.Rcpt] = append(out[o.Rcpt], decode(t, r))
	}
	return out
}

// A notification names the mailbox and links to the message, and holds no
// word of the subject, the body or the sender.
func TestNotificationHoldsNothingOfTheMessage(t *testing.T) {
	storetest.EachEngine(t, func(t *testing.T, engine string) {
		e := newEnv(t, engine)
		claire := e.user(t, "claire", "claire@perso.example")
		e.deliver(t, claire.Address, "Résultats de Mme Josiane Dupuis-Lemaire", "Hémoglobine glyquée 9,1 %, diabète déséquilibré, Josiane")
		e.n.Once(context.Background())
		mails := e.sent(t)["claire@perso.example"]
		if len(mails) != 1 {
			t.Fatalf("notifications to claire: %d, want 1", len(mails))
		}
		m := mails[0]
		for _, word := range []string{"Josiane", "Dupuis", "Lemaire", "Résultats", "glyqu", "diab", "secretariat", "clinique"} {
			if strings.Contains(m, word) {
				t.Errorf("notification holds %q:\n%s", word, m)
			}
		}
		msg := e.inbox(t, claire)[0]
		link := fmt.Sprintf("https://messagerie.test/m/%d", msg.ID)
		for _, want := range []string{"claire@test.mssante.fr", link, "Auto-Submitted: auto-generated"} {
			if !strings.Contains(m, want) {
				t.Errorf("notification lacks %q:\n%s", want, m)
			}
		}
	})
}

// Each message is told at once, then at most once per five minutes: a burst
// gives one mail now and one summary when the five minutes are up. A digest
// gives one mail for ten messages; none gives nothing.
func TestModes(t *testing.T) {
	storetest.EachEngine(t, func(t *testing.T, engine string) {
		ctx := context.Background()
		e := newEnv(t, engine)
		each := e.user(t, "each", "each@perso.example")
		digest := e.user(t, "digest", "digest@perso.example")
		none := e.user(t, "none", "none@perso.example")
		for _, c := range []struct {
			who  core.Actor
			mode core.NotifyPrefs
		}{
			{digest, core.NotifyPrefs{Mode: core.NotifyDigest, Every: 30 * time.Minute}},
			{none, core.NotifyPrefs{Mode: core.NotifyNone}},
		} {
			mb, err := e.svc.MailboxByAddress(ctx, c.who, c.who.Address)
			if err != nil {
				t.Fatal(err)
			}
			if err := e.svc.SetNotifyPrefs(ctx, c.who, mb.ID, c.mode); err != nil {
				t.Fatal(err)
			}
		}
		for i := range 10 {
			for _, who := range []core.Actor{each, digest, none} {
				e.deliver(t, who.Address, fmt.Sprintf("analyse %d", i), "texte")
			}
			e.n.Once(ctx)
		}
		count := func() (int, int, int) {
			s := e.sent(t)
			return len(s["each@perso.example"]), len(s["digest@perso.example"]), len(s["none@perso.example"])
		}
		if a, b, c := count(); a != 1 || b != 0 || c != 0 {
			t.Fatalf("after ten messages: each %d, digest %d, none %d; want 1, 0, 0", a, b, c)
		}
		e.clock.Add(5 * time.Minute)
		e.n.Once(ctx)
		if a, b, _ := count(); a != 2 || b != 0 {
			t.Fatalf("five minutes on: each %d, digest %d; want the summary of the other nine, and no digest yet", a, b)
		}
		if s := e.sent(t)["each@perso.example"][1]; !strings.Contains(s, "9 nouveaux messages") || !strings.Contains(s, "9 new messages") {
			t.Errorf("summary does not count the nine messages:\n%s", s)
		}
		e.clock.Add(25 * time.Minute)
		e.n.Once(ctx)
		if a, b, c := count(); a != 2 || b != 1 || c != 0 {
			t.Fatalf("thirty minutes on: each %d, digest %d, none %d; want 2, 1, 0", a, b, c)
		}
		if s := e.sent(t)["digest@perso.example"][0]; !strings.Contains(s, "10 nouveaux messages") {
			t.Errorf("digest does not count ten messages:\n%s", s)
		}
		e.clock.Add(time.Hour)
		e.n.Once(ctx)
		if a, b, _ := count(); a != 2 || b != 1 {
			t.Fatalf("with nothing new: each %d, digest %d; want no more mail", a, b)
		}
	})
}

// The members of an organisational mailbox who may read it are told; a
// member without the read right, and a notification address in a local
// domain, are not.
func TestOrganisationalMailboxTellsItsReaders(t *testing.T) {
	ctx := context.Background()
	e := newEnv(t, "sqlite")
	reader := e.user(t, "sophie", "sophie@perso.example")
	poster := e.user(t, "paul", "paul@perso.example")
	local := e.user(t, "marc", "marc.perso@"+coretest.Domain)
	box := "cardiologie@" + coretest.Domain
	mb, err := e.svc.AddMailbox(ctx, e.sys, box, core.KindOrganisational, "Cardiologie", "")
	if err != nil {
		t.Fatal(err)
	}
	for who, rights := range map[string]core.Rights{reader.Address: core.RightLookup | core.RightRead, poster.Address: core.RightLookup | core.RightPost, local.Address: core.RightLookup | core.RightRead} {
		if err := e.svc.SetRights(ctx, e.sys, mb.ID, who, rights); err != nil {
			t.Fatal(err)
		}
	}
	e.deliver(t, box, "demande d'avis", "texte")
	e.n.Once(ctx)
	s := e.sent(t)
	if len(s["sophie@perso.example"]) != 1 || len(s["paul@perso.example"]) != 0 || len(s["marc.perso@"+coretest.Domain]) != 0 {
		t.Fatalf("notifications: %v", keys(s))
	}
	if !strings.Contains(s["sophie@perso.example"][0], box) {
		t.Errorf("notification does not name the mailbox %s", box)
	}
}

func keys(m map[string][]string) map[string]int {
	out := map[string]int{}
	for k, v := range m {
		out[k] = len(v)
	}
	return out
}

// decode reads a mail as a client shows it: its header fields, then its
// decoded text.
func decode(t *testing.T, r io.Reader) string {
	t.Helper()
	mr, err := mail.CreateReader(r)
	if err != nil {
		t.Fatal(err)
	}
	var b strings.Builder
	fields := mr.Header.Fields()
	for fields.Next() {
		v, err := fields.Text()
		if err != nil {
			t.Fatal(err)
		}
		fmt.Fprintf(&b, "%s: %s\n", fields.Key(), v)
	}
	p, err := mr.NextPart()
	if err != nil {
		t.Fatal(err)
	}
	body, err := io.ReadAll(p.Body)
	if err != nil {
		t.Fatal(err)
	}
	b.WriteString("\n")
	b.Write(body)
	return b.String()
}
