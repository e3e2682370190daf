package imap

import (
	"bufio"
	"net"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"caduceus/internal/core/coretest"
)

// capabilityTests names, for every capability the server advertises, the
// test that speaks it to a live server.
var capabilityTests = map[string]string{
	"IMAP4rev1":          "TestMailboxAndMessages",
	"MULTIAPPEND":        "TestMultiAppend",
	"CATENATE":           "TestCatenate",
	"IMAP4rev2":          "TestEnableIMAP4rev2",
	"LITERAL+":           "TestLiteralPlus",
	"SASL-IR":            "TestAuthenticatePlain",
	"ID":                 "TestID",
	"ENABLE":             "TestEnableIMAP4rev2",
	"IDLE":               "TestIdleSeesChangesFromOthers",
	"STARTTLS":           "TestLoginNeedsTLS",
	"LOGINDISABLED":      "TestLoginNeedsTLS",
	"AUTH=PLAIN":         "TestAuthenticatePlain",
	"NAMESPACE":          "TestNamespace",
	"UIDPLUS":            "TestUIDPlus",
	"MOVE":               "TestMailboxAndMessages",
	"UNSELECT":           "TestMailboxAndMessages",
	"CHILDREN":           "TestListExtended",
	"SPECIAL-USE":        "TestListExtended",
	"CREATE-SPECIAL-USE": "TestMailboxAndMessages",
	"LIST-EXTENDED":      "TestListExtended",
	"LIST-STATUS":        "TestListExtended",
	"CONDSTORE":          "TestCondStore",
	"QRESYNC":            "TestQResync",
	"ESEARCH":            "TestESearchAndSearchRes",
	"SEARCHRES":          "TestESearchAndSearchRes",
	"SORT":               "TestSort",
	"ESORT":              "TestESort",
	"CONTEXT=SEARCH":     "TestSearchUpdate",
	"THREAD=REFERENCES":  "TestThread",
	"QUOTA":              "TestQuota",
	"QUOTA=RES-STORAGE":  "TestQuota",
	"ACL":                "TestACLOrgMailboxAndDelegate",
	"RIGHTS=kxte":        "TestDeleteACLAndListRights",
	"STATUS=SIZE":        "TestMailboxAndMessages",
	"UTF8=ACCEPT":        "TestUTF8Accept",
	"BINARY":             "TestBinary",
	"APPENDLIMIT":        "TestAppendLimit",
	"NOTIFY":             "TestNotifyDuringIdle",
}

// TestCapabilitiesHaveTests checks that every capability the server
// advertises, in any state, has a test in capabilityTests, and that each
// named test exists.
func TestCapabilitiesHaveTests(t *testing.T) {
	ts := startServer(t)
	coretest.User(t, ts.svc, "alice", "Alice")
	advertised := map[string]bool{}
	note := func(line string) {
		for _, c := range strings.Fields(strings.TrimPrefix(line, "* CAPABILITY ")) {
			if name, _, ok := strings.Cut(c, "="); ok && name == "APPENDLIMIT" {
				c = name
			}
			advertised[c] = true
		}
	}
	nc, err := net.Dial("tcp", ts.addr)
	if err != nil {
		t.Fatal(err)
	}
	plain := &rawClient{t: t, nc: nc, br: bufio.NewReader(nc)}
	defer nc.Close()
	plain.line()
	note(plain.ok("CAPABILITY")[0])
	r := ts.raw(t, "")
	note(r.ok("CAPABILITY")[0])
	r.ok("LOGIN alice@" + coretest.Domain + ` "` + coretest.Password + `"`)
	note(r.ok("CAPABILITY")[0])

	var sources strings.Builder
	files, err := filepath.Glob("*_test.go")
	if err != nil {
		t.Fatal(err)
	}
	for _, f := range files {
		b, err := os.ReadFile(f)
		if err != nil {
			t.Fatal(err)
		}
		sources.Write(b)
	}
	for c := range advertised {
		test, ok := capabilityTests[c]
		if !ok {
			t.Errorf("capability %s is advertised but names no test", c)
			continue
		}
		if !strings.Contains(sources.String(), "func "+test+"(t *testing.T)") {
			t.Errorf("capability %s names %s, which does not exist", c, test)
		}
	}
	for c := range capabilityTests {
		if !advertised[c] {
			t.Errorf("capabilityTests names %s, which is not advertised", c)
		}
	}
}
