// Package blobtest gives tests a real S3 server: the one CADUCEUS_TEST_S3
// names (an s3:// URL; credentials in AWS_ACCESS_KEY_ID and
// AWS_SECRET_ACCESS_KEY; scripts/test.sh starts one), or a versitygw started
// on loopback over a temporary folder, built once into
// $HOME/.cache/caduceus-tools/bin. Without either the test is skipped,
// except on CI (CI=true), where that is a failure.
package blobtest

import (
	"bytes"
	"context"
	"crypto/rand"
	"encoding/hex"
	"errors"
	"fmt"
	"net"
	"net/url"
	"os"
	"os/exec"
	"path/filepath"
	"syscall"
	"testing"
	"time"

	"github.com/minio/minio-go/v7"
	"github.com/minio/minio-go/v7/pkg/credentials"
)

// VersityGW is the module version of the S3 server the tests start.
const VersityGW = "github.com/versity/versitygw/cmd/versitygw@v1.8.0"

// Server is an S3 bucket for one test.
type Server struct {
	// URL is the s3:// store URL of the test's bucket (under a prefix of its
	// own on a server CADUCEUS_TEST_S3 names).
	URL string
	// CredentialsFile is an AWS shared credentials file for it, empty when
	// the credentials come from the environment.
	CredentialsFile string
	// Dir is the folder the started server keeps its buckets in, empty for
	// one CADUCEUS_TEST_S3 names.
	Dir string

	cmd  *exec.Cmd
	done chan struct{} // closed once cmd has exited
}

// S3 returns a bucket for the test, under a prefix of its own on the server
// CADUCEUS_TEST_S3 names, or on a server started for it when that is not set.
func S3(t testing.TB) *Server {
	t.Helper()
	if raw := os.Getenv("CADUCEUS_TEST_S3"); raw != "" {
		u, err := url.Parse(raw)
		if err != nil || u.Scheme != "s3" {
			t.Fatal("CADUCEUS_TEST_S3: want s3://BUCKET?endpoint=HOST:PORT&tls=false")
		}
		u.Path = "/" + randomHex(6)
		return &Server{URL: u.String()}
	}
	return Own(t)
}

// Own starts an S3 server for the test alone, which it may stop.
func Own(t testing.TB) *Server {
	t.Helper()
	bin, err := binary()
	if err != nil {
		skip(t, fmt.Sprintf("no S3 server for the test: set CADUCEUS_TEST_S3 or make versitygw buildable (%v)", err))
	}
	s := &Server{Dir: t.TempDir()}
	const bucket = "caduceus"
	if err := os.Mkdir(filepath.Join(s.Dir, bucket), 0o700); err != nil {
		t.Fatal(err)
	}
	access, secret := randomHex(10), randomHex(20)
	s.CredentialsFile = filepath.Join(t.TempDir(), "credentials")
	creds := fmt.Sprintf("[default]\naws_access_key_id = %s\naws_secret_access_key = %s\n", access, secret)
	if err := os.WriteFile(s.CredentialsFile, []byte(creds), 0o600); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(s.stop)
	// The port is free when chosen but may be taken before the server binds
	// it: a server that is not ours (our credentials fail) means try again.
	var last error
	for range 3 {
		addr, err := freePort()
		if err != nil {
			t.Fatal(err)
		}
		var out bytes.Buffer
		s.cmd = exec.Command(bin, "--access", access, "--secret", secret, "--port", addr, "--quiet", "posix", s.Dir)
		s.cmd.Stdout, s.cmd.Stderr = &out, &out // its chatter only when it fails
		if err := s.cmd.Start(); err != nil {
			skip(t, fmt.Sprintf("no S3 server for the test: start versitygw: %v", err))
		}
		s.done = make(chan struct{})
		go func(cmd *exec.Cmd, done chan struct{}) { cmd.Wait(); close(done) }(s.cmd, s.done)
		if last = s.ready(addr, bucket, access, secret); last == nil {
			s.URL = "s3://" + bucket + "?endpoint=" + addr + "&region=us-east-1&tls=false"
			return s
		}
		s.stop()
		last = fmt.Errorf("versitygw on %s: %w: %s", addr, last, out.Bytes())
	}
	t.Fatal(last)
	return nil
}

// ready waits until the server answers for the bucket with the test's
// credentials.
func (s *Server) ready(addr, bucket, access, secret string) error {
	client, err := minio.New(addr, &minio.Options{Creds: credentials.NewStaticV4(access, secret, ""), MaxRetries: 1})
	if err != nil {
		return err
	}
	deadline := time.Now().Add(20 * time.Second)
	for {
		ctx, cancel := context.WithTimeout(context.Background(), 2*time.Second)
		ok, err := client.BucketExists(ctx, bucket)
		cancel()
		switch {
		case err == nil && ok:
			return nil
		case err == nil:
			return errors.New("the bucket is not there: another server holds the port")
		case minio.ToErrorResponse(err).Code != "":
			return fmt.Errorf("another server holds the port: %w", err)
		}
		select {
		case <-s.done:
			return errors.New("exited")
		default:
		}
		if time.Now().After(deadline) {
			return fmt.Errorf("not ready: %w", err)
		}
		time.Sleep(50 * time.Millisecond)
	}
}

// Stop stops a server Own started, to see what a node does when its bucket
// is gone.
func (s *Server) Stop(t testing.TB) {
	t.Helper()
	if s.cmd == nil {
		t.Fatal("blobtest: Stop of a server the test did not start (use Own)")
	}
	s.stop()
}

func skip(t testing.TB, why string) {
	t.Helper()
	if os.Getenv("CI") == "true" {
		t.Fatal(why)
	}
	t.Skip(why)
}

func (s *Server) stop() {
	if s.cmd == nil {
		return
	}
	select {
	case <-s.done:
		return
	default:
	}
	s.cmd.Process.Signal(syscall.SIGTERM)
	select {
	case <-s.done:
	case <-time.After(5 * time.Second):
		s.cmd.Process.Kill()
		<-s.done
	}
}

// binary returns the path of versitygw: on PATH, in the tools cache, or
// built there now from the Go module proxy.
func binary() (string, error) {
	if p, err := exec.LookPath("versitygw"); err == nil {
		return p, nil
	}
	home, err := os.UserHomeDir()
	if err != nil {
		return "", err
	}
	dir := filepath.Join(home, ".cache", "caduceus-tools", "bin")
	bin := filepath.Join(dir, "versitygw")
	if _, err := os.Stat(bin); err == nil {
		return bin, nil
	}
	if err := os.MkdirAll(dir, 0o755); err != nil {
		return "", err
	}
	// Test binaries of several packages may get here at once: one builds.
	lock, err := os.OpenFile(filepath.Join(dir, ".versitygw.lock"), os.O_CREATE|os.O_RDWR, 0o600)
	if err != nil {
		return "", err
	}
	defer lock.Close()
	if err := syscall.Flock(int(lock.Fd()), syscall.LOCK_EX); err != nil {
		return "", err
	}
	if _, err := os.Stat(bin); err == nil {
		return bin, nil
	}
	ctx, cancel := context.WithTimeout(context.Background(), 8*time.Minute)
	defer cancel()
	cmd := exec.CommandContext(ctx, "go", "install", VersityGW)
	cmd.Dir = os.TempDir() // outside this module, so that its go.mod does not apply
	cmd.Env = append(os.Environ(), "GOBIN="+dir, "GOFLAGS=")
	if out, err := cmd.CombinedOutput(); err != nil {
		return "", fmt.Errorf("go install %s: %v: %s", VersityGW, err, out)
	}
	return bin, nil
}

func freePort() (string, error) {
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		return "", err
	}
	defer l.Close()
	return l.Addr().String(), nil
}

func randomHex(n int) string {
	b := make([]byte, n)
	rand.Read(b)
	return hex.EncodeToString(b)
}
