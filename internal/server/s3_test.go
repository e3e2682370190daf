package server_test

import (
	"errors"
	"strings"
	"testing"

	gosmtp "github.com/emersion/go-smtp"

	"caduceus/internal/blob/blobtest"
	"caduceus/internal/config"
	"caduceus/internal/server/servertest"
)

// A node with [blobs] store = "s3://…" takes mail over SMTP into the bucket
// and reads it back; with the bucket gone it is not ready, and a message is
// refused with a temporary error rather than acknowledged.
func TestS3NodeDelivers(t *testing.T) {
	s3 := blobtest.Own(t)
	srv := servertest.Start(t, servertest.Options{Users: []string{"alice"}, Configure: func(c *config.Config) {
		c.Blobs.Store, c.Blobs.Credentials = s3.URL, s3.CredentialsFile
	}})
	send := func(subject string) error {
		c, err := gosmtp.Dial(srv.Addr("smtp"))
		if err != nil {
			t.Fatal(err)
		}
		defer c.Close()
		msg := "From: lab@remote.example\r\nTo: alice@test.mssante.fr\r\nSubject: " + subject + "\r\nMessage-ID: <" + subject + "@test>\r\n\r\nbody\r\n"
		return c.SendMail("lab@remote.example", []string{"alice@" + servertest.Domain}, strings.NewReader(msg))
	}
	if err := send("s3"); err != nil {
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
	segs, err := srv.Blobs.Segments()
	if err != nil || len(segs) != 1 {
		t.Fatalf("objects in the bucket: %v, %v", segs, err)
	}
	base := "http://" + srv.Addr("metrics")
	if code, body := get(t, base+"/readyz"); code != 200 {
		t.Fatalf("readyz = %d %q", code, body)
	}
	_, metrics := get(t, base+"/metrics")
	for _, want := range []string{"caduceus_blob_uploads_total 1", "caduceus_blob_upload_failures_total 0", "caduceus_blob_cache_bytes "} {
		if !strings.Contains(metrics, want) {
			t.Errorf("metrics lack %q", want)
		}
	}

	s3.Stop(t)
	if code, body := get(t, base+"/readyz"); code != 503 || !strings.Contains(body, "blob store") {
		t.Fatalf("readyz with the bucket down = %d %q", code, body)
	}
	err = send("lost")
	var se *gosmtp.SMTPError
	if !errors.As(err, &se) || se.Code/100 != 4 {
		t.Fatalf("delivery with the bucket down: %v, want a 4xx reply", err)
	}
}
