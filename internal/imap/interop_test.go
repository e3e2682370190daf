package imap

import (
	"encoding/json"
	"os"
	"os/exec"
	"strings"
	"testing"

	"caduceus/internal/core/coretest"
)

// pythonClient is a session of Python's imaplib, a second client written
// apart from go-imap, as scripts and hospital software use it: STARTTLS,
// LOGIN, the common commands, and the answers as JSON.
const pythonClient = `
import email, email.policy, imaplib, json, ssl, sys
ctx = ssl.create_default_context()
ctx.check_hostname = False
ctx.verify_mode = ssl.CERT_NONE
host, port, user, password = sys.argv[1], int(sys.argv[2]), sys.argv[3], sys.argv[4]
out = {}
def keep(name, r):
    typ, data = r
    out[name] = [typ] + [d.decode("utf-8", "replace") if isinstance(d, bytes) else repr(d) for d in data]
M = imaplib.IMAP4(host, port)
keep("starttls", M.starttls(ssl_context=ctx))
keep("login", M.login(user, password))
keep("list", M.list())
keep("append", M.append("INBOX", "(\\Seen)", imaplib.Time2Internaldate(1700000000),
    "From: labo@example.org\r\nSubject: =?utf-8?q?r=C3=A9sultats?=\r\nContent-Type: multipart/mixed; boundary=b\r\n\r\n"
    "--b\r\nContent-Type: text/plain; charset=utf-8\r\n\r\nH\u00e9moglobine normale\r\n--b\r\nContent-Type: application/pdf; name=cr.pdf\r\n\r\n%PDF\r\n--b--\r\n".encode()))
keep("select", M.select("INBOX"))
keep("search", M.search("UTF-8", "BODY", "h\u00e9moglobine".encode()))
keep("fetch", M.fetch("1", "(UID FLAGS RFC822.SIZE BODYSTRUCTURE ENVELOPE)"))
typ, data = M.fetch("1", "(BODY.PEEK[HEADER.FIELDS (SUBJECT)])")
subject = email.message_from_bytes(data[0][1], policy=email.policy.default)["Subject"]
out["subject"] = [typ, subject]
keep("store", M.store("1", "+FLAGS", "(\\Flagged)"))
keep("quota", M.getquotaroot("INBOX"))
keep("myrights", M.myrights("INBOX"))
keep("status", M.status("INBOX", "(MESSAGES UNSEEN UIDNEXT)"))
keep("sort", M.sort("(DATE)", "UTF-8", "ALL"))
keep("copy", M.copy("1", "Trash"))
keep("expunge", M.store("1", "+FLAGS", "(\\Deleted)"))
keep("expunged", M.expunge())
keep("logout", M.logout())
json.dump(out, sys.stdout)
`

// TestPythonImaplib runs the session above against the server and checks
// what a script would rely on.
func TestPythonImaplib(t *testing.T) {
	python, err := exec.LookPath("python3")
	if err != nil {
		if os.Getenv("CI") != "" {
			t.Fatal("python3 not installed (Debian package python3)")
		}
		t.Skip("python3 not installed")
	}
	ts := startServer(t)
	coretest.User(t, ts.svc, "alice", "Alice")
	host, port, _ := strings.Cut(ts.addr, ":")
	cmd := exec.Command(python, "-c", pythonClient, host, port, "alice@"+coretest.Domain, coretest.Password)
	stdout, err := cmd.Output()
	if err != nil {
		var stderr string
		if ee, ok := err.(*exec.ExitError); ok {
			stderr = string(ee.Stderr)
		}
		t.Fatalf("imaplib session failed: %v\n%s", err, stderr)
	}
	var got map[string][]string
	if err := json.Unmarshal(stdout, &got); err != nil {
		t.Fatalf("imaplib output %q: %v", stdout, err)
	}
	for _, c := range []struct{ step, want string }{
		{"starttls", "OK"},
		{"login", "OK"},
		{"list", `(\HasNoChildren \Trash) "/" "Trash"`},
		{"append", "[APPENDUID "},
		{"select", "1"},
		{"search", "1"},
		{"fetch", `BODYSTRUCTURE (("TEXT" "PLAIN" ("CHARSET" "utf-8")`},
		{"fetch", `"APPLICATION" "PDF" ("NAME" "cr.pdf")`},
		{"fetch", `ENVELOPE (NIL "=?utf-8?`},
		{"subject", "OK résultats"},
		{"fetch", `FLAGS (\Seen \Recent)`}, // the session that selected first (RFC 3501 §2.3.2)
		{"store", `FLAGS (\Seen \Flagged \Recent)`},
		{"quota", `"INBOX" "alice@test.mssante.fr"`},
		{"myrights", `"INBOX" "lrswipkxtea12"`},
		{"status", `(MESSAGES 1 UNSEEN 0 UIDNEXT 2)`},
		{"sort", "1"},
		{"copy", "[COPYUID "},
		{"expunged", "1"},
		{"logout", "BYE"},
	} {
		answer := strings.Join(got[c.step], " ")
		if !strings.Contains(answer, c.want) {
			t.Errorf("%s answered %q, want %q in it", c.step, answer, c.want)
		}
	}
}
