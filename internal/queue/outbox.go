package queue

import (
	"bufio"
	"context"
	"crypto/rand"
	"fmt"
	"io"
	"mime"
	"net/mail"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"time"

	"caduceus/internal/smtp"
)

// DevOutbox is the Transport of `caduceus dev`: instead of sending mail off
// the machine, it writes each message as an .eml file under Dir, its envelope
// in two fields on top, and reports it delivered. `caduceus dev outbox` lists
// them with ReadOutbox.
type DevOutbox struct {
	// Dir holds the files; it is created when missing.
	Dir string
}

// The fields that carry the envelope in a dev outbox file.
const (
	outboxFrom = "X-Dev-Mail-From"
	outboxTo   = "X-Dev-Rcpt-To"
)

// Deliver writes the message durably (written, synced, renamed into place)
// and returns a success for every recipient, or the same temporary failure
// for all when the file cannot be written.
func (d DevOutbox) Deliver(ctx context.Context, env smtp.Envelope, content smtp.Content) []smtp.Result {
	err := d.write(env, content)
	results := make([]smtp.Result, len(env.To))
	for i, r := range env.To {
		results[i] = smtp.Result{Recipient: r.Address, Remote: "dev-outbox"}
		if err != nil {
			results[i].Err = &smtp.Error{Code: 451, Enhanced: [3]int{4, 3, 0}, Message: "Dev outbox not writable", Err: err}
		}
	}
	return results
}

func (d DevOutbox) write(env smtp.Envelope, content smtp.Content) error {
	if err := os.MkdirAll(d.Dir, 0o700); err != nil {
		return fmt.Errorf("dev outbox: %w", err)
	}
	r, err := content()
	if err != nil {
		return fmt.Errorf("dev outbox: %w", err)
	}
	defer r.Close()
	tmp, err := os.CreateTemp(d.Dir, ".tmp-*")
	if err != nil {
		return fmt.Errorf("dev outbox: %w", err)
	}
	defer os.Remove(tmp.Name())
	defer tmp.Close()
	to := make([]string, len(env.To))
	for i, r := range env.To {
		to[i] = "<" + r.Address + ">"
	}
	w := bufio.NewWriter(tmp)
	fmt.Fprintf(w, "%s: <%s>\r\n%s: %s\r\n", outboxFrom, env.From, outboxTo, strings.Join(to, ", "))
	if _, err := io.Copy(w, r); err != nil {
		return fmt.Errorf("dev outbox: %w", err)
	}
	if err := w.Flush(); err != nil {
		return fmt.Errorf("dev outbox: %w", err)
	}
	if err := tmp.Sync(); err != nil {
		return fmt.Errorf("dev outbox: %w", err)
	}
	name := time.Now().UTC().Format("20060102T150405.000000000Z") + "-" + rand.Text()[:8] + ".eml"
	if err := os.Rename(tmp.Name(), filepath.Join(d.Dir, name)); err != nil {
		return fmt.Errorf("dev outbox: %w", err)
	}
	return syncDir(d.Dir)
}

func syncDir(dir string) error {
	f, err := os.Open(dir)
	if err != nil {
		return fmt.Errorf("dev outbox: %w", err)
	}
	defer f.Close()
	if err := f.Sync(); err != nil {
		return fmt.Errorf("dev outbox: %w", err)
	}
	return nil
}

// OutboxMessage is one message in the dev outbox.
type OutboxMessage struct {
	// Path is the .eml file.
	Path string
	// From and To are the envelope.
	From string
	To   []string
	// Subject is the message's subject, decoded; dev data is synthetic.
	Subject string
	// Time is when the message was written.
	Time time.Time
	// Size is the file's size in bytes.
	Size int64
}

// ReadOutbox lists the dev outbox under dir, oldest first. A missing
// directory is an empty outbox.
func ReadOutbox(dir string) ([]OutboxMessage, error) {
	entries, err := os.ReadDir(dir)
	if os.IsNotExist(err) {
		return nil, nil
	}
	if err != nil {
		return nil, fmt.Errorf("dev outbox: %w", err)
	}
	var out []OutboxMessage
	for _, e := range entries {
		if e.IsDir() || !strings.HasSuffix(e.Name(), ".eml") {
			continue
		}
		m, err := readOutboxFile(filepath.Join(dir, e.Name()))
		if err != nil {
			return nil, err
		}
		out = append(out, m)
	}
	slices.SortFunc(out, func(a, b OutboxMessage) int { return a.Time.Compare(b.Time) })
	return out, nil
}

func readOutboxFile(path string) (OutboxMessage, error) {
	f, err := os.Open(path)
	if err != nil {
		return OutboxMessage{}, fmt.Errorf("dev outbox: %w", err)
	}
	defer f.Close()
	st, err := f.Stat()
	if err != nil {
		return OutboxMessage{}, fmt.Errorf("dev outbox: %w", err)
	}
	msg, err := mail.ReadMessage(bufio.NewReader(io.LimitReader(f, 1<<20)))
	if err != nil {
		return OutboxMessage{}, fmt.Errorf("dev outbox: %s: %w", filepath.Base(path), err)
	}
	m := OutboxMessage{Path: path, Time: st.ModTime(), Size: st.Size()}
	m.From = strings.Trim(msg.Header.Get(outboxFrom), "<>")
	for a := range strings.SplitSeq(msg.Header.Get(outboxTo), ",") {
		if a = strings.Trim(strings.TrimSpace(a), "<>"); a != "" {
			m.To = append(m.To, a)
		}
	}
	m.Subject = msg.Header.Get("Subject")
	if s, err := new(mime.WordDecoder).DecodeHeader(m.Subject); err == nil {
		m.Subject = s
	}
	return m, nil
}
