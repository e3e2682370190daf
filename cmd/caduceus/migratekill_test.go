package main

import (
	"database/sql"
	"os"
	"os/exec"
	"path/filepath"
	"reflect"
	"syscall"
	"testing"
	"time"

	"caduceus/internal/config"
)

// A `caduceus migrate` process killed with SIGKILL half-way through the
// rows leaves a target that a second run completes to the very state of
// the source: the same messages, UIDs and flags, the same digests per
// mailbox.
func TestMigrateKill9(t *testing.T) {
	if testing.Short() {
		t.Skip("runs caduceus migrate as a process of its own")
	}
	dir := t.TempDir()
	old, cluster := filepath.Join(dir, "old.toml"), filepath.Join(dir, "cluster.toml")
	writeConfig(t, old, "data_dir = \"old\"\n")
	writeConfig(t, cluster, clusterConfig(t, "cluster", ""))
	populate(t, old, 150)
	want := mailState(t, old)
	wantDigests, _, err := runCLI(t, old, "", "check", "--mailboxes")
	if err != nil {
		t.Fatal(err)
	}
	dst, err := config.Load(cluster)
	if err != nil {
		t.Fatal(err)
	}
	db, err := sql.Open("pgx", dst.Database)
	if err != nil {
		t.Fatal(err)
	}
	defer db.Close()
	copied := func() int {
		var n int
		if err := db.QueryRow(`SELECT COUNT(*) FROM messages`).Scan(&n); err != nil {
			return 0 // the schema is not there yet
		}
		return n
	}

	cmd := exec.Command(os.Args[0], "migrate", "--from", old, "--to", cluster, "--batch", "1")
	cmd.Env = append(os.Environ(), runMainEnv+"=1")
	if _, err := cmd.StdinPipe(); err != nil {
		t.Fatal(err)
	}
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	deadline := time.Now().Add(2 * time.Minute)
	for copied() < 20 {
		if time.Now().After(deadline) {
			cmd.Process.Kill()
			t.Fatal("the migration copied no messages in two minutes")
		}
		time.Sleep(10 * time.Millisecond)
	}
	if err := cmd.Process.Signal(syscall.SIGKILL); err != nil {
		t.Fatal(err)
	}
	err = cmd.Wait()
	if ws, ok := cmd.ProcessState.Sys().(syscall.WaitStatus); !ok || !ws.Signaled() {
		t.Fatalf("the migration ended before it was killed (%v): the test proves nothing", err)
	}
	partial := copied()
	t.Logf("killed with %d message rows copied", partial)

	out, errOut, err := runCLI(t, "", "", "migrate", "--from", old, "--to", cluster, "--batch", "10")
	if err != nil {
		t.Fatalf("migrate after the kill: %v\n%s%s", err, out, errOut)
	}
	if got := mailState(t, cluster); !reflect.DeepEqual(got, want) {
		t.Errorf("after the kill and a second run the cluster shows\n%v\nwant\n%v", got, want)
	}
	if got, _, err := runCLI(t, cluster, "", "check", "--mailboxes"); err != nil || got != wantDigests {
		t.Errorf("check --mailboxes after the kill: %v\n%s\nwant\n%s", err, got, wantDigests)
	}
}
