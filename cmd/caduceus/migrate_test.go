package main

import (
	"context"
	"crypto/sha256"
	"crypto/tls"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"log/slog"
	"os"
	"path/filepath"
	"reflect"
	"sort"
	"strings"
	"testing"
	"time"

	"github.com/emersion/go-imap/v2"
	"github.com/emersion/go-imap/v2/imapclient"

	"caduceus/internal/blob/blobtest"
	"caduceus/internal/config"
	"caduceus/internal/core"
	"caduceus/internal/migrate"
	"caduceus/internal/server"
	"caduceus/internal/store/storetest"
)

// populate fills the embedded installation of the config at path: users,
// a shared mailbox with rights, folders, n messages with flags and keywords,
// audit entries (every command leaves one).
func populate(t *testing.T, path string, n int) {
	t.Helper()
	ctx := context.Background()
	users := []string{"claire", "marc", "ines", "paul"}
	cmds := [][]string{{"domain", "add", "chu.mssante.fr"}}
	for _, u := range users {
		cmds = append(cmds, []string{"user", "add", u + "@chu.mssante.fr", "--name", u, "--password-stdin"})
	}
	cmds = append(cmds, []string{"mailbox", "add", "cardio@chu.mssante.fr", "--kind", "org", "--name", "Cardiologie"},
		[]string{"mailbox", "grant", "cardio@chu.mssante.fr", "claire@chu.mssante.fr", "lrswi"},
		[]string{"mailbox", "grant", "cardio@chu.mssante.fr", "marc@chu.mssante.fr", "lr"})
	for _, args := range cmds {
		if _, _, err := runCLI(t, path, clusterPassword+"\n", args...); err != nil {
			t.Fatal(args, err)
		}
	}
	node := blobsNode(t, path)
	defer node.Close()
	boxes := append(users, "cardio")
	for i := range n {
		to := boxes[i%len(boxes)] + "@chu.mssante.fr"
		data := fmt.Sprintf("From: dr%d@hopital.mssante.fr\r\nTo: %s\r\nSubject: compte rendu %d\r\nMessage-ID: <m%d@test>\r\n\r\nPatient vu le %d, échographie normale, tachycardie%d.\r\n", i, to, i, i, i, i%7)
		if err := node.Core.Deliver(ctx, cli, core.Delivery{Recipients: []string{to}, Data: []byte(data)}); err != nil {
			t.Fatal(err)
		}
	}
	for _, u := range boxes {
		mb, err := node.Core.MailboxByAddress(ctx, cli, u+"@chu.mssante.fr")
		if err != nil {
			t.Fatal(err)
		}
		f, err := node.Core.CreateFolder(ctx, cli, mb.ID, "Dossiers/Urgent", "")
		if err != nil {
			t.Fatal(err)
		}
		when := time.Date(2026, 3, 1, 9, 0, 0, 0, time.UTC)
		if _, err := node.Core.Append(ctx, cli, f.ID, core.FlagFlagged, []string{"$Important"}, when, []byte("Subject: urgent\r\n\r\nà voir\r\n")); err != nil {
			t.Fatal(err)
		}
		inbox, err := node.Core.FolderByName(ctx, cli, mb.ID, "INBOX")
		if err != nil {
			t.Fatal(err)
		}
		if _, _, err := node.Core.StoreFlags(ctx, cli, inbox.ID, []uint32{1, 3, 5}, core.FlagChange{Op: core.FlagsAdd, Flags: core.FlagSeen | core.FlagAnswered}); err != nil {
			t.Fatal(err)
		}
		if _, _, err := node.Core.StoreFlags(ctx, cli, inbox.ID, []uint32{2}, core.FlagChange{Op: core.FlagsAdd, Flags: core.FlagDeleted}); err != nil {
			t.Fatal(err)
		}
	}
}

// mailState is what a client sees of every mailbox: folders, UIDs, flags
// and keywords.
func mailState(t *testing.T, path string) map[string][]string {
	t.Helper()
	ctx := context.Background()
	node := blobsNode(t, path)
	defer node.Close()
	out := map[string][]string{}
	for _, box := range []string{"claire", "marc", "ines", "paul", "cardio"} {
		mb, err := node.Core.MailboxByAddress(ctx, cli, box+"@chu.mssante.fr")
		if err != nil {
			t.Fatal(err)
		}
		folders, err := node.Core.Folders(ctx, cli, mb.ID)
		if err != nil {
			t.Fatal(err)
		}
		for _, f := range folders {
			msgs, err := node.Core.Messages(ctx, cli, f.ID, core.MessageQuery{})
			if err != nil {
				t.Fatal(err)
			}
			key := box + "/" + f.Name
			for _, m := range msgs {
				out[key] = append(out[key], fmt.Sprintf("%d %s | %s", m.UID, strings.Join(imapFlags(m), " "), m.Subject))
			}
		}
	}
	return out
}

// imapFlags are a message's flags and keywords as IMAP names them, sorted.
func imapFlags(m core.Message) []string {
	var out []string
	for _, f := range []struct {
		flag core.Flags
		name string
	}{{core.FlagSeen, `\Seen`}, {core.FlagAnswered, `\Answered`}, {core.FlagFlagged, `\Flagged`}, {core.FlagDeleted, `\Deleted`}, {core.FlagDraft, `\Draft`}} {
		if m.Flags&f.flag != 0 {
			out = append(out, f.name)
		}
	}
	out = append(out, m.Keywords...)
	sort.Strings(out)
	return out
}

// imapState is what an IMAP client logged in as user sees of its own
// folders: per folder, each message's UID and flags (mailState's lines
// without the subject).
func imapState(t *testing.T, addr, user string) map[string][]string {
	t.Helper()
	c, err := imapclient.DialStartTLS(addr, &imapclient.Options{TLSConfig: &tls.Config{InsecureSkipVerify: true}})
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	if err := c.Login(user+"@chu.mssante.fr", clusterPassword).Wait(); err != nil {
		t.Fatal(err)
	}
	out := map[string][]string{}
	for _, folder := range []string{"INBOX", "Dossiers/Urgent"} {
		if _, err := c.Select(folder, nil).Wait(); err != nil {
			t.Fatal(err)
		}
		msgs, err := c.Fetch(imap.UIDSet{{Start: 1, Stop: 0}}, &imap.FetchOptions{UID: true, Flags: true}).Collect()
		if err != nil {
			t.Fatal(err)
		}
		for _, m := range msgs {
			var flags []string
			for _, f := range m.Flags {
				if f != `\Recent` {
					flags = append(flags, string(f))
				}
			}
			sort.Strings(flags)
			out[user+"/"+folder] = append(out[user+"/"+folder], strings.TrimSpace(fmt.Sprintf("%d %s", m.UID, strings.Join(flags, " "))))
		}
	}
	return out
}

// withoutSubjects keeps, of mailState's lines for user, what IMAP shows.
func withoutSubjects(state map[string][]string, user string) map[string][]string {
	out := map[string][]string{}
	for k, lines := range state {
		if !strings.HasPrefix(k, user+"/") {
			continue
		}
		for _, l := range lines {
			out[k] = append(out[k], strings.TrimSuffix(l[:strings.Index(l, " | ")], " "))
		}
	}
	return out
}

// treeHash sums every file under dir, names and contents.
func treeHash(t *testing.T, dir string) string {
	t.Helper()
	h := sha256.New()
	err := filepath.WalkDir(dir, func(p string, d fs.DirEntry, err error) error {
		if err != nil || d.IsDir() {
			return err
		}
		f, err := os.Open(p)
		if err != nil {
			return err
		}
		defer f.Close()
		fmt.Fprintf(h, "%s\n", p)
		_, err = io.Copy(h, f)
		return err
	})
	if err != nil {
		t.Fatal(err)
	}
	return fmt.Sprintf("%x", h.Sum(nil))
}

func writeConfig(t *testing.T, path, body string) {
	t.Helper()
	if err := os.WriteFile(path, []byte("hostname = \"mx.test\"\n"+body), 0o600); err != nil {
		t.Fatal(err)
	}
}

// clusterConfig is the body of a config on PostgreSQL and an S3 bucket;
// tables are more sections of it.
func clusterConfig(t *testing.T, dataDir, tables string) string {
	s3 := blobtest.S3(t)
	body := fmt.Sprintf("data_dir = %q\ndatabase = %q\n%s[blobs]\nstore = %q\n", dataDir, storetest.PostgresDSN(t), tables, s3.URL)
	if s3.CredentialsFile != "" {
		body += fmt.Sprintf("credentials = %q\n", s3.CredentialsFile)
	}
	return body
}

// An embedded installation moves to PostgreSQL + S3, checked, with the same
// UIDs, flags and search results; the source stays as it was; and it moves
// back to an embedded one the same.
func TestMigrate(t *testing.T) {
	dir := t.TempDir()
	old, cluster, back := filepath.Join(dir, "old.toml"), filepath.Join(dir, "cluster.toml"), filepath.Join(dir, "back.toml")
	writeConfig(t, old, "data_dir = \"old\"\n")
	imapAddr := freeAddr(t)
	writeConfig(t, cluster, clusterConfig(t, "cluster", fmt.Sprintf("[listen]\nimap = %q\n[auth]\naccount_password_for_mail = true\n", imapAddr)))
	writeConfig(t, back, "data_dir = \"back\"\n")
	populate(t, old, 1000)
	want := mailState(t, old)
	wantDigests, _, err := runCLI(t, old, "", "check", "--mailboxes")
	if err != nil {
		t.Fatal(err)
	}
	before := treeHash(t, filepath.Join(dir, "old"))

	start := time.Now()
	out, errOut, err := runCLI(t, "", "", "migrate", "--from", old, "--to", cluster)
	if err != nil {
		t.Fatalf("migrate: %v\n%s%s", err, out, errOut)
	}
	t.Logf("embedded → cluster in %s: %s", time.Since(start).Round(time.Millisecond), out)
	if !strings.Contains(out, "store ok") {
		t.Errorf("migrate said %q", out)
	}
	if got := treeHash(t, filepath.Join(dir, "old")); got != before {
		t.Error("the source changed")
	}
	// Run again once finished: nothing copied, checked again, audited once.
	out, errOut, err = runCLI(t, "", "", "migrate", "--from", old, "--to", cluster)
	if err != nil || !strings.Contains(out, "copied 0 segments (0.0 MiB; 1 already there)") {
		t.Fatalf("migrate again: %v\n%s%s", err, out, errOut)
	}
	trail, _, err := runCLI(t, cluster, "", "audit", "list", "--action", "migrate")
	if err != nil || strings.Count(trail, "migrate") != 1 || !strings.Contains(trail, "from sqlite+files") {
		t.Errorf("audit of the migration: %v\n%s", err, trail)
	}
	if got := mailState(t, cluster); !reflect.DeepEqual(got, want) {
		t.Errorf("the cluster shows\n%v\nwant\n%v", got, want)
	}
	gotDigests, _, err := runCLI(t, cluster, "", "check", "--mailboxes")
	if err != nil {
		t.Fatal(err)
	}
	if gotDigests != wantDigests {
		t.Errorf("check --mailboxes on the cluster:\n%s\nwant\n%s", gotDigests, wantDigests)
	}

	// A node serving the cluster shows IMAP clients the same UIDs and flags.
	ctx := context.Background()
	cfg, err := config.Load(cluster)
	if err != nil {
		t.Fatal(err)
	}
	srv, err := server.Start(ctx, cfg, slog.New(slog.DiscardHandler))
	if err != nil {
		t.Fatal(err)
	}
	for _, user := range []string{"claire", "paul"} {
		if got, want := imapState(t, imapAddr, user), withoutSubjects(want, user); !reflect.DeepEqual(got, want) {
			t.Errorf("IMAP on the cluster shows %s\n%v\nwant\n%v", user, got, want)
		}
	}
	if err := srv.Shutdown(ctx); err != nil {
		t.Fatal(err)
	}

	// The search index was built again on PostgreSQL; new mail gets new ids.
	node := blobsNode(t, cluster)
	mb, err := node.Core.MailboxByAddress(ctx, cli, "claire@chu.mssante.fr")
	if err != nil {
		t.Fatal(err)
	}
	found, err := node.Core.Search(ctx, cli, mb.ID, "échographie", 1000)
	if err != nil || len(found) != 200 {
		t.Errorf("search on the cluster: %d messages, %v; want 200", len(found), err)
	}
	inbox, err := node.Core.FolderByName(ctx, cli, mb.ID, "INBOX")
	if err != nil {
		t.Fatal(err)
	}
	uids, err := node.Core.SearchFolder(ctx, cli, inbox.ID, "tachycardie3")
	if err != nil || len(uids) == 0 {
		t.Errorf("substring search on the cluster: %v, %v", uids, err)
	}
	if err := node.Core.Deliver(ctx, cli, core.Delivery{Recipients: []string{"claire@chu.mssante.fr"}, Data: []byte("Subject: after\r\n\r\nnew\r\n")}); err != nil {
		t.Fatalf("delivery on the cluster: %v", err)
	}
	node.Close()

	// Into a target that holds data of its own: refused, even with the key.
	used := filepath.Join(dir, "used.toml")
	writeConfig(t, used, fmt.Sprintf("data_dir = \"used\"\nkey_file = %q\ndatabase = %q\n", filepath.Join(dir, "old", "blob.key"), storetest.PostgresDSN(t)))
	if _, _, err := runCLI(t, used, "", "domain", "add", "autre.mssante.fr"); err != nil {
		t.Fatal(err)
	}
	if _, _, err := runCLI(t, "", "", "migrate", "--from", old, "--to", used); err == nil || !strings.Contains(err.Error(), "not empty") {
		t.Errorf("migrate into a used target: %v, want refused as not empty", err)
	}

	// And back to an embedded installation.
	out, errOut, err = runCLI(t, "", "", "migrate", "--from", cluster, "--to", back)
	if err != nil {
		t.Fatalf("migrate back: %v\n%s%s", err, out, errOut)
	}
	wantBack := mailState(t, cluster)
	if got := mailState(t, back); !reflect.DeepEqual(got, wantBack) {
		t.Errorf("back on SQLite:\n%v\nwant\n%v", got, wantBack)
	}
}

// A migration stopped three times (once its segment is copied, then after a
// few batches of rows) goes on to the same result as one run.
func TestMigrateResume(t *testing.T) {
	ctx := context.Background()
	dir := t.TempDir()
	old, cluster := filepath.Join(dir, "old.toml"), filepath.Join(dir, "cluster.toml")
	writeConfig(t, old, "data_dir = \"old\"\n")
	writeConfig(t, cluster, clusterConfig(t, "cluster", ""))
	populate(t, old, 120)
	want := mailState(t, old)
	wantDigests, _, err := runCLI(t, old, "", "check", "--mailboxes")
	if err != nil {
		t.Fatal(err)
	}
	src, err := config.Load(old)
	if err != nil {
		t.Fatal(err)
	}
	dst, err := config.Load(cluster)
	if err != nil {
		t.Fatal(err)
	}
	key, err := os.ReadFile(filepath.Join(src.DataDir, "blob.key"))
	if err != nil {
		t.Fatal(err)
	}
	e := env{stdout: io.Discard, stderr: io.Discard}
	if err := placeKey(e, filepath.Join(dst.DataDir, "blob.key"), key); err != nil {
		t.Fatal(err)
	}
	killed := errors.New("killed")
	for _, stopAt := range []int{1, 3, 9} {
		_, err := copyInstallation(ctx, e, src, dst, key, migrate.Options{Batch: 10, AfterStep: func(step int) error {
			if step == stopAt {
				return killed
			}
			return nil
		}})
		if !errors.Is(err, killed) {
			t.Fatalf("stopped at step %d: %v", stopAt, err)
		}
	}
	out, errOut, err := runCLI(t, "", "", "migrate", "--from", old, "--to", cluster, "--batch", "10")
	if err != nil {
		t.Fatalf("resumed migrate: %v\n%s%s", err, out, errOut)
	}
	if got := mailState(t, cluster); !reflect.DeepEqual(got, want) {
		t.Errorf("after resuming the cluster shows\n%v\nwant\n%v", got, want)
	}
	if got, _, err := runCLI(t, cluster, "", "check", "--mailboxes"); err != nil || got != wantDigests {
		t.Errorf("check --mailboxes after resuming: %v\n%s\nwant\n%s", err, got, wantDigests)
	}
}
