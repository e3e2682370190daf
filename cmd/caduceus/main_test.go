package main

import (
	"bytes"
	"context"
	"encoding/csv"
	"encoding/json"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"caduceus/internal/store"
)

// runCLI runs one command in-process against the config at cfg and returns its
// output and error.
func runCLI(t testing.TB, cfg, stdin string, args ...string) (string, string, error) {
	t.Helper()
	var out, errOut bytes.Buffer
	full := append(args, "--config", cfg)
	if len(args) > 0 && (args[0] == "--help" || args[len(args)-1] == "--help") {
		full = args
	}
	err := run(context.Background(), full, strings.NewReader(stdin), &out, &errOut)
	return out.String(), errOut.String(), err
}

func TestAdminCommands(t *testing.T) {
	dir := t.TempDir()
	cfg := filepath.Join(dir, "caduceus.toml")
	if err := os.WriteFile(cfg, []byte("hostname = \"mx.test\"\ndata_dir = \"data\"\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	steps := []struct {
		args    []string
		stdin   string
		want    string // in stdout
		wantErr string // in the error
	}{
		{args: []string{"domain", "add", "chu.mssante.fr"}, want: "domain chu.mssante.fr added"},
		{args: []string{"domain", "add", "chu.mssante.fr"}, wantErr: "already exists"},
		{args: []string{"user", "add", "claire@chu.mssante.fr", "--name", "Dr Claire", "--password-stdin", "--notify-email", "claire@perso.example"}, stdin: "un mot de passe long\n", want: "user claire@chu.mssante.fr added"},
		{args: []string{"user", "add", "x@elsewhere.fr", "--name", "X"}, wantErr: "not local"},
		{args: []string{"user", "add", "bob@chu.mssante.fr", "--name", "Bob", "--password-stdin"}, stdin: "short\n", wantErr: "shorter than 10"},
		{args: []string{"user", "add", "--name", "No address"}, wantErr: "want 1 argument"},
		{args: []string{"user", "add", "sophie@chu.mssante.fr", "--name", "Sophie"}, want: "added"},
		{args: []string{"user", "list"}, want: "claire@chu.mssante.fr"},
		{args: []string{"user", "role", "sophie@chu.mssante.fr", "manager", "--domain", "chu.mssante.fr"}, want: "manages chu.mssante.fr"},
		{args: []string{"user", "role", "sophie@chu.mssante.fr", "manager"}, wantErr: "--domain is required"},
		{args: []string{"user", "role", "sophie@chu.mssante.fr", "king", "--domain", "chu.mssante.fr"}, wantErr: "want manager or none"},
		{args: []string{"user", "role", "sophie@chu.mssante.fr", "manager", "--domain", "other.fr"}, wantErr: "not found"},
		{args: []string{"domain", "manager", "chu.mssante.fr"}, want: "chu.mssante.fr: no manager contact"},
		{args: []string{"domain", "manager", "chu.mssante.fr", "--name", "Sophie Marchand", "--address", "Sophie@CHU.mssante.fr", "--phone", "04 72 00 00 00"},
			want: "chu.mssante.fr: Sophie Marchand <sophie@chu.mssante.fr> 04 72 00 00 00"},
		{args: []string{"domain", "manager", "chu.mssante.fr", "--name", "Nobody"}, wantErr: "--name and --address are required"},
		{args: []string{"domain", "manager", "other.fr", "--name", "X", "--address", "x@other.fr"}, wantErr: "not found"},
		{args: []string{"audit", "list", "--action", "manager.contact.set"}, want: "chu.mssante.fr"},
		{args: []string{"mailbox", "add", "cardio@chu.mssante.fr", "--kind", "org", "--name", "Cardiologie"}, want: "cardio@chu.mssante.fr (ORG) added"},
		{args: []string{"mailbox", "add", "bad@chu.mssante.fr", "--kind", "xyz", "--name", "Bad"}, wantErr: "mailbox kind"},
		{args: []string{"mailbox", "grant", "cardio@chu.mssante.fr", "sophie@chu.mssante.fr", "member"}, want: "lrswipkte1"},
		{args: []string{"mailbox", "grant", "cardio@chu.mssante.fr", "sophie@chu.mssante.fr", "lrq"}, wantErr: "unknown right"},
		{args: []string{"mailbox", "acl", "cardio@chu.mssante.fr"}, want: "sophie@chu.mssante.fr"},
		{args: []string{"mailbox", "revoke", "cardio@chu.mssante.fr", "sophie@chu.mssante.fr"}, want: "no rights"},
		{args: []string{"mailbox", "stats", "nobody@chu.mssante.fr"}, wantErr: "not found"},
		{args: []string{"user", "passwd", "claire@chu.mssante.fr"}, stdin: "un autre mot de passe\n", want: "password of claire@chu.mssante.fr changed"},
		{args: []string{"user", "disable", "claire@chu.mssante.fr"}, want: "disabled"},
		{args: []string{"mailbox", "receipts", "cardio@chu.mssante.fr", "always"}, want: "read receipts of cardio@chu.mssante.fr: always"},
		{args: []string{"mailbox", "receipts", "cardio@chu.mssante.fr", "sometimes"}, wantErr: "want ask, always or never"},
		{args: []string{"dkim", "list"}, want: "no DKIM key"},
		{args: []string{"dkim", "add", "chu.mssante.fr", "--selector", "s1"}, want: "s1._domainkey.chu.mssante.fr. IN TXT \"v=DKIM1; k=rsa; p="},
		{args: []string{"dkim", "add", "chu.mssante.fr", "--selector", "s1"}, wantErr: "already exists"},
		{args: []string{"dkim", "add", "elsewhere.fr"}, wantErr: "not a local domain"},
		{args: []string{"dkim", "list"}, want: "chu.mssante.fr  s1  added"},
		{args: []string{"queue", "list"}, want: "queue empty"},
		{args: []string{"queue", "retry", "abc"}, wantErr: "want a number"},
		{args: []string{"queue", "drop", "42"}, wantErr: "not found"},
		{args: []string{"audit", "list", "--action", "rights.set"}, want: "cardio@chu.mssante.fr sophie@chu.mssante.fr"},
		{args: []string{"audit", "prune", "--older-than", "720h"}, wantErr: "kept at least 365 days"},
		{args: []string{"audit", "prune"}, want: "0 audit entries from before"},
		{args: []string{"check"}, want: "store ok"},
		{args: []string{"user", "remove", "sophie@chu.mssante.fr"}, want: "removed"},
		{args: []string{"frobnicate"}, wantErr: "unknown command"},
	}
	for _, s := range steps {
		out, _, err := runCLI(t, cfg, s.stdin, s.args...)
		name := strings.Join(s.args, " ")
		if s.wantErr != "" {
			if err == nil || !strings.Contains(err.Error(), s.wantErr) {
				t.Errorf("%s: err = %v, want %q", name, err, s.wantErr)
			}
			continue
		}
		if err != nil {
			t.Errorf("%s: %v", name, err)
			continue
		}
		if !strings.Contains(out, s.want) {
			t.Errorf("%s: output %q lacks %q", name, out, s.want)
		}
	}

	out, _, err := runCLI(t, cfg, "", "mailbox", "stats", "claire@chu.mssante.fr", "--json")
	if err != nil {
		t.Fatal(err)
	}
	var stats []struct {
		Folder   string `json:"folder"`
		Messages *int   `json:"messages"`
		Unseen   *int   `json:"unseen"`
		Bytes    *int64 `json:"bytes"`
	}
	if err := json.Unmarshal([]byte(out), &stats); err != nil {
		t.Fatalf("stats --json: %v\n%s", err, out)
	}
	if len(stats) != 6 || stats[0].Folder != "INBOX" || stats[0].Messages == nil || stats[0].Unseen == nil || stats[0].Bytes == nil {
		t.Fatalf("stats --json = %s", out)
	}
}

func TestHelp(t *testing.T) {
	var out, errOut bytes.Buffer
	if err := run(context.Background(), []string{"--help"}, nil, &out, &errOut); !errors.Is(err, errHelp) {
		t.Fatalf("--help: %v", err)
	}
	if !strings.Contains(out.String(), "caduceus user add") {
		t.Errorf("usage lacks the commands:\n%s", out.String())
	}
	out.Reset()
	errOut.Reset()
	if err := run(context.Background(), []string{"user", "add", "--help"}, nil, &out, &errOut); !errors.Is(err, errHelp) {
		t.Fatalf("user add --help: %v", err)
	}
	if !strings.Contains(errOut.String(), "--notify-email") {
		t.Errorf("user add --help lacks its flags:\n%s", errOut.String())
	}
}

func TestAuditVerifyAndExport(t *testing.T) {
	dir := t.TempDir()
	cfg := filepath.Join(dir, "caduceus.toml")
	if err := os.WriteFile(cfg, []byte("hostname = \"mx.test\"\ndata_dir = \"data\"\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	for _, args := range [][]string{
		{"domain", "add", "chu.mssante.fr"},
		{"user", "add", "claire@chu.mssante.fr", "--name", "Dr Claire"},
		{"user", "add", "sophie@chu.mssante.fr", "--name", "Sophie"},
		{"mailbox", "add", "cardio@chu.mssante.fr", "--kind", "org", "--name", "Cardiologie"},
		{"mailbox", "grant", "cardio@chu.mssante.fr", "sophie@chu.mssante.fr", "member"},
	} {
		if _, _, err := runCLI(t, cfg, "", args...); err != nil {
			t.Fatalf("%v: %v", args, err)
		}
	}
	out, _, err := runCLI(t, cfg, "", "audit", "verify")
	if err != nil || !strings.Contains(out, "audit trail intact") {
		t.Fatalf("verify of an untouched trail: %q, %v", out, err)
	}

	out, errOut, err := runCLI(t, cfg, "", "audit", "export", "--since", "2020-01-01", "--action", "rights.set")
	if err != nil || !strings.Contains(errOut, "1 audit entries exported") {
		t.Fatalf("export: %q, %v", errOut, err)
	}
	recs, err := csv.NewReader(strings.NewReader(out)).ReadAll()
	if err != nil || len(recs) != 2 || recs[1][5] != "rights.set" {
		t.Fatalf("exported %q, %v; want the header and the grant", recs, err)
	}
	if _, _, err := runCLI(t, cfg, "", "audit", "export", "--until", "yesterday"); err == nil || !strings.Contains(err.Error(), "want a date") {
		t.Fatalf("export with a bad date: %v", err)
	}

	// Someone with access to the database edits the grant's row.
	ctx := context.Background()
	st, err := store.Open(ctx, "", filepath.Join(dir, "data"))
	if err != nil {
		t.Fatal(err)
	}
	var id int64
	if err := st.QueryRow(ctx, `SELECT id FROM audit WHERE action = 'rights.set'`).Scan(&id); err != nil {
		t.Fatal(err)
	}
	if _, err := st.Exec(ctx, `UPDATE audit SET target = 'cardio@chu.mssante.fr claire@chu.mssante.fr' WHERE id = ?`, id); err != nil {
		t.Fatal(err)
	}
	st.Close()
	out, _, err = runCLI(t, cfg, "", "audit", "verify")
	want := fmt.Sprintf("audit trail broken at entry %d", id)
	if err == nil || !strings.Contains(out, want) || !strings.Contains(out, "was changed") {
		t.Fatalf("verify after an edit: %q, %v; want a failure naming entry %d", out, err, id)
	}
}

func TestBackupAndRestoreCommands(t *testing.T) {
	dir := t.TempDir()
	cfg := filepath.Join(dir, "caduceus.toml")
	if err := os.WriteFile(cfg, []byte("hostname = \"mx.test\"\ndata_dir = \"data\"\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	for _, args := range [][]string{
		{"domain", "add", "chu.mssante.fr"},
		{"user", "add", "claire@chu.mssante.fr", "--name", "Dr Claire"},
	} {
		if _, _, err := runCLI(t, cfg, "", args...); err != nil {
			t.Fatalf("%v: %v", args, err)
		}
	}
	saved := filepath.Join(dir, "saved")
	out, _, err := runCLI(t, cfg, "", "backup", saved)
	if err != nil || !strings.Contains(out, "checked: store ok") || !strings.Contains(out, "keep the key file") {
		t.Fatalf("backup: %q, %v", out, err)
	}
	if _, _, err := runCLI(t, cfg, "", "backup", saved); err == nil || !strings.Contains(err.Error(), "not empty") {
		t.Fatalf("backup into the same folder again: %v", err)
	}

	other := filepath.Join(dir, "other.toml")
	if err := os.WriteFile(other, []byte("hostname = \"mx.test\"\ndata_dir = \"restored\"\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	if _, _, err := runCLI(t, other, "", "restore", saved); err == nil || !strings.Contains(err.Error(), "key file must be in place") {
		t.Fatalf("restore without the key: %v", err)
	}
	key, err := os.ReadFile(filepath.Join(dir, "data", "blob.key"))
	if err != nil {
		t.Fatal(err)
	}
	if err := os.MkdirAll(filepath.Join(dir, "restored"), 0o700); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(filepath.Join(dir, "restored", "blob.key"), key, 0o600); err != nil {
		t.Fatal(err)
	}
	out, _, err = runCLI(t, other, "", "restore", saved)
	if err != nil || !strings.Contains(out, "restored into") {
		t.Fatalf("restore: %q, %v", out, err)
	}
	out, _, err = runCLI(t, other, "", "user", "list")
	if err != nil || !strings.Contains(out, "claire@chu.mssante.fr") {
		t.Fatalf("users of the restored node: %q, %v", out, err)
	}
}
