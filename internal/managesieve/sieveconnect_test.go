package managesieve_test

import (
	"net"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"

	"caduceus/internal/core/coretest"
)

// TestSieveConnect drives the server with Debian's sieve-connect, a client
// we did not write: upload, list, activate, download, check, deactivate,
// delete.
func TestSieveConnect(t *testing.T) {
	bin, err := exec.LookPath("sieve-connect")
	if err != nil {
		t.Skip("sieve-connect is not installed (apt-get install -y sieve-connect; scripts/test.sh installs it)")
	}
	e := newEnv(t, false)
	host, port, _ := net.SplitHostPort(e.addr)
	dir := t.TempDir()
	local := filepath.Join(dir, "filters.sieve")
	script := "require [\"fileinto\", \"vacation\"];\r\nif address :domain :is \"from\" \"lab.example\" { fileinto \"Labs\"; }\r\nvacation :days 3 \"Absent.\";\r\n"
	if err := os.WriteFile(local, []byte(script), 0o600); err != nil {
		t.Fatal(err)
	}
	bad := filepath.Join(dir, "bad.sieve")
	os.WriteFile(bad, []byte("if true {\n"), 0o600)
	run := func(args ...string) (string, error) {
		t.Helper()
		base := []string{"--server", host, "--port", port, "--user", "alice@" + coretest.Domain, "--passwordfd", "3", "--notlsverify", "--authmech", "PLAIN"}
		cmd := exec.Command(bin, append(base, args...)...)
		r, w, err := os.Pipe()
		if err != nil {
			t.Fatal(err)
		}
		w.WriteString(coretest.Password + "\n")
		w.Close()
		cmd.ExtraFiles = []*os.File{r}
		cmd.Dir = dir
		out, err := cmd.CombinedOutput()
		r.Close()
		return string(out), err
	}
	steps := []struct {
		args []string
		ok   bool
		want string
	}{
		{[]string{"--upload", "--localsieve", local, "--remotesieve", "filters"}, true, ""},
		{[]string{"--upload", "--localsieve", bad, "--remotesieve", "bad"}, false, "block not closed"},
		{[]string{"--checkscript", "--localsieve", local}, true, ""},
		{[]string{"--activate", "--remotesieve", "filters"}, true, ""},
		{[]string{"--list"}, true, "filters"},
		{[]string{"--download", "--remotesieve", "filters", "--localsieve", filepath.Join(dir, "back.sieve")}, true, ""},
		{[]string{"--deactivate"}, true, ""},
		{[]string{"--delete", "--remotesieve", "filters"}, true, ""},
		{[]string{"--list"}, true, ""},
	}
	for _, s := range steps {
		out, err := run(s.args...)
		t.Logf("sieve-connect %s: %v: %s", strings.Join(s.args, " "), err, out)
		if (err == nil) != s.ok || !strings.Contains(out, s.want) {
			t.Fatalf("sieve-connect %s: %v\n%s", strings.Join(s.args, " "), err, out)
		}
		if s.args[0] == "--download" {
			back, err := os.ReadFile(filepath.Join(dir, "back.sieve"))
			if err != nil || string(back) != script {
				t.Fatalf("downloaded %q, %v; want %q", back, err, script)
			}
		}
		if s.args[0] == "--list" && s.want == "" && strings.Contains(out, "filters") {
			t.Fatalf("list after delete: %s", out)
		}
	}
}
