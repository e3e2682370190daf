package ldap

import (
	"bytes"
	"context"
	"crypto/tls"
	"crypto/x509"
	"errors"
	"log/slog"
	"net"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	goldap "github.com/go-ldap/ldap/v3"

	"caduceus/internal/certs/certstest"
	"caduceus/internal/directory"
	"caduceus/internal/store/storetest"
)

const (
	baseDN   = "ou=annuaire,dc=caduceus,dc=example"
	aliceDN  = "uid=alice@caduceus.example," + baseDN
	password = "correct horse"
)

// mailboxColumns are the columns of Extraction_Correspondance_MSSante.
var mailboxColumns = []string{"Type de BAL", "Adresse BAL", "Type Identifiant PP", "Identifiant PP",
	"Identification nationale PP", "Type identifiant structure", "Identification Structure",
	"Service de rattachement", "Civilité d'exercice", "Nom d'exercice", "Prénom d'exercice",
	"Catégorie profession", "Libellé de catégorie profession", "Code Profession", "Libellé Profession",
	"Code savoir-faire", "Libellé savoir-faire", "Dématérialisation", "Raison Sociale structure BAL",
	"Enseigne commerciale structure BAL", "L2COMPLEMENTLOCALISATION structure BAL",
	"L3COMPLEMENTDISTRIBUTION structure BAL", "L4NUMEROVOIE structure BAL",
	"L4COMPLEMENTNUMEROVOIE structure BAL", "NL4TYPEVOIE structure BAL", "L4LIBELLEVOIE structure BAL",
	"L5LIEUDITMENTION structure BAL", "L6LIGNEACHEMINEMENT structure BAL", "Code postal structure BAL",
	"Département structure BAL", "Pays structure BAL"}

// mailboxFile returns a small Extraction_Correspondance_MSSante as published.
func mailboxFile() string {
	person := func(addr, idnat, last, first, prof, profLabel, skill, org, postcode, city string) map[string]string {
		return map[string]string{"Type de BAL": "PER", "Adresse BAL": addr, "Type Identifiant PP": "8",
			"Identifiant PP": idnat[1:], "Identification nationale PP": idnat, "Nom d'exercice": last,
			"Prénom d'exercice": first, "Code Profession": prof, "Libellé Profession": profLabel,
			"Libellé savoir-faire": skill, "Raison Sociale structure BAL": org,
			"L6LIGNEACHEMINEMENT structure BAL": postcode + " " + city, "Code postal structure BAL": postcode}
	}
	rows := []map[string]string{
		person("helene.lefevre@medecin.mssante.fr", "810000001015", "LEFÈVRE", "Hélène", "10", "Médecin", "Médecine Générale", "CABINET DES LILAS", "69003", "LYON"),
		person("marie.martin@medecin.mssante.fr", "810000001023", "MARTIN", "Marie", "10", "Médecin", "Cardiologie", "HOPITAL SAINT-JOSEPH", "75014", "PARIS"),
		person("paul.martinez@pharmacien.mssante.fr", "810000001031", "MARTINEZ", "Paul", "21", "Pharmacien", "", "PHARMACIE DU PORT", "13002", "MARSEILLE"),
		person("luc.martin@infirmier.mssante.fr", "810000001049", "MARTIN", "Luc", "60", "Infirmier", "", "", "44000", "NANTES"),
		{"Type de BAL": "ORG", "Adresse BAL": "secretariat.cardio@ch-lyon.mssante.fr",
			"Service de rattachement": "Service de cardiologie", "Raison Sociale structure BAL": "CHU DE LYON",
			"L6LIGNEACHEMINEMENT structure BAL": "69003 LYON CEDEX 03", "Dématérialisation": "True"},
	}
	var b strings.Builder
	b.WriteString(strings.Join(mailboxColumns, "|") + "|\n")
	for _, r := range rows {
		for _, c := range mailboxColumns {
			b.WriteString(r[c] + "|")
		}
		b.WriteString("\n")
	}
	return b.String()
}

// testServer starts a server over a directory holding the mailboxes above and
// a local account on the red list; it returns its address and the CA file.
func testServer(t *testing.T, anonymous bool) (addr string, caFile string, srv *Server) {
	t.Helper()
	auth := func(ctx context.Context, remote, login, pw string) error {
		if login == "alice@caduceus.example" && pw == password {
			return nil
		}
		return errors.New("bad credentials")
	}
	return testServerWith(t, Options{Anonymous: anonymous}, auth)
}

// testServerWith serves the test directory with opts (base DN, size limit
// and certificate filled in) and auth.
func testServerWith(t *testing.T, opts Options, auth AuthFunc) (addr string, caFile string, srv *Server) {
	t.Helper()
	ctx := context.Background()
	st := storetest.Open(t, "sqlite")
	dir, err := directory.Open(ctx, st, t.TempDir())
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { dir.Close() })
	path := filepath.Join(t.TempDir(), "Extraction_Correspondance_MSSante.txt")
	if err := os.WriteFile(path, []byte(mailboxFile()), 0o600); err != nil {
		t.Fatal(err)
	}
	if sum, err := dir.Import(ctx, []string{path}, nil); err != nil || sum.Rejected > 0 {
		t.Fatalf("import: %v %v", err, sum.Rejections)
		t.Fatal(err)
	}
	err = dir.UpsertLocal(ctx, directory.LocalEntry{Key: "hidden@caduceus.example", Listed: false,
		Entry: directory.Entry{LastName: "MARTIN", FirstName: "Cachée", Mailbox: "hidden@caduceus.example",
			MailboxKind: directory.KindPersonal}})
	if err != nil {
		t.Fatal(err)
	}
	serverTLS, _ := certstest.TLS(t)
	caFile = certstest.CAFile(t, serverTLS)
	opts.BaseDN, opts.SizeLimit = baseDN, 50
	opts.TLSConfig = serverTLS
	srv, err = NewServer(dir, auth, opts)
	if err != nil {
		t.Fatal(err)
	}
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	served := make(chan error, 1)
	go func() { served <- srv.Serve(ln) }()
	t.Cleanup(func() {
		ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
		defer cancel()
		if err := srv.Shutdown(ctx); err != nil {
			t.Errorf("shutdown: %v", err)
		}
		if err := <-served; !errors.Is(err, ErrServerClosed) {
			t.Errorf("Serve returned %v", err)
		}
	})
	return ln.Addr().String(), caFile, srv
}

// dial connects a go-ldap client, upgraded with STARTTLS when tlsCA is set.
func dial(t *testing.T, addr, caFile string) *goldap.Conn {
	t.Helper()
	c, err := goldap.DialURL("ldap://" + addr)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { c.Close() })
	if caFile != "" {
		pemData, err := os.ReadFile(caFile)
		if err != nil {
			t.Fatal(err)
		}
		pool := x509.NewCertPool()
		pool.AppendCertsFromPEM(pemData)
		if err := c.StartTLS(&tls.Config{RootCAs: pool, ServerName: "127.0.0.1"}); err != nil {
			t.Fatalf("StartTLS: %v", err)
		}
	}
	return c
}

func search(c *goldap.Conn, filter string, sizeLimit int, attrs ...string) (*goldap.SearchResult, error) {
	return c.Search(goldap.NewSearchRequest(baseDN, goldap.ScopeWholeSubtree, goldap.NeverDerefAliases,
		sizeLimit, 10, false, filter, attrs, nil))
}

func mails(r *goldap.SearchResult) []string {
	var out []string
	if r == nil {
		return nil
	}
	for _, e := range r.Entries {
		out = append(out, e.GetAttributeValue("mail"))
	}
	return out
}

func isCode(err error, code uint16) bool {
	return goldap.IsErrorWithCode(err, code)
}

func TestBindAndStartTLS(t *testing.T) {
	addr, caFile, _ := testServer(t, false)
	clear := dial(t, addr, "")
	if _, err := search(clear, "(cn=martin)", 0); !isCode(err, goldap.LDAPResultInsufficientAccessRights) {
		t.Errorf("search before bind: %v", err)
	}
	if err := clear.Bind(aliceDN, password); !isCode(err, goldap.LDAPResultConfidentialityRequired) {
		t.Errorf("bind in clear: %v", err)
	}
	c := dial(t, addr, caFile)
	if err := c.Bind(aliceDN, "wrong"); !isCode(err, goldap.LDAPResultInvalidCredentials) {
		t.Errorf("bind with a wrong password: %v", err)
	}
	if err := c.UnauthenticatedBind(aliceDN); !isCode(err, goldap.LDAPResultUnwillingToPerform) {
		t.Errorf("unauthenticated bind: %v", err)
	}
	if err := c.Bind(aliceDN, password); err != nil {
		t.Fatalf("bind: %v", err)
	}
	if err := c.Bind("alice@caduceus.example", password); err != nil {
		t.Errorf("bind with the bare address: %v", err)
	}
	res, err := search(c, "(mail=helene.lefevre@medecin.mssante.fr)", 0)
	if err != nil || !slices.Equal(mails(res), []string{"helene.lefevre@medecin.mssante.fr"}) {
		t.Errorf("search after bind: %q, %v", mails(res), err)
	}
}

func TestSearchFilters(t *testing.T) {
	addr, caFile, _ := testServer(t, false)
	c := dial(t, addr, caFile)
	if err := c.Bind(aliceDN, password); err != nil {
		t.Fatal(err)
	}
	tests := []struct {
		filter string
		want   []string
	}{
		// Thunderbird's autocomplete filter, as it sends it.
		{"(|(cn=lef*)(mail=lef*)(sn=lef*))", []string{"helene.lefevre@medecin.mssante.fr"}},
		{"(|(cn=hélène*)(mail=hélène*)(sn=hélène*))", []string{"helene.lefevre@medecin.mssante.fr"}},
		{"(|(cn=marie mar*)(mail=marie mar*)(sn=marie mar*))", []string{"marie.martin@medecin.mssante.fr"}},
		{"(sn=martin)", []string{"luc.martin@infirmier.mssante.fr", "marie.martin@medecin.mssante.fr"}},
		{"(cn=martin*)", []string{"luc.martin@infirmier.mssante.fr", "marie.martin@medecin.mssante.fr", "paul.martinez@pharmacien.mssante.fr"}},
		{"(&(objectClass=inetOrgPerson)(givenName=paul))", []string{"paul.martinez@pharmacien.mssante.fr"}},
		{"(&(sn=martin*)(l=paris))", []string{"marie.martin@medecin.mssante.fr"}},
		{"(&(sn=mart*)(!(givenName=luc)))", []string{"marie.martin@medecin.mssante.fr", "paul.martinez@pharmacien.mssante.fr"}},
		{"(cn=*cardiologie*)", []string{"secretariat.cardio@ch-lyon.mssante.fr"}},
		{"(o=chu*)", []string{"secretariat.cardio@ch-lyon.mssante.fr"}},
		{"(mail=MARIE.MARTIN@*)", []string{"marie.martin@medecin.mssante.fr"}},
		{"(givenName=cachée)", nil}, // on the red list
		{"(sn=nobody)", nil},
	}
	for _, tt := range tests {
		res, err := search(c, tt.filter, 0, "cn", "mail")
		if err != nil {
			t.Errorf("%s: %v", tt.filter, err)
			continue
		}
		got := mails(res)
		slices.Sort(got)
		if !slices.Equal(got, tt.want) {
			t.Errorf("%s: got %q, want %q", tt.filter, got, tt.want)
		}
	}
	res, err := search(c, "(sn=mart*)", 2)
	if !isCode(err, goldap.LDAPResultSizeLimitExceeded) || len(res.Entries) != 2 {
		t.Errorf("size limit: %d entries, %v", len(res.Entries), err)
	}
	if _, err := search(c, "(objectClass=*)", 0); !isCode(err, goldap.LDAPResultUnwillingToPerform) {
		t.Errorf("unbounded filter: %v", err)
	}
}

func TestEntriesAndReadOnly(t *testing.T) {
	addr, _, _ := testServer(t, true)
	c := dial(t, addr, "")
	res, err := search(c, "(mail=marie.martin@medecin.mssante.fr)", 0)
	if err != nil || len(res.Entries) != 1 {
		t.Fatalf("anonymous search: %v", err)
	}
	e := res.Entries[0]
	want := map[string]string{
		"cn": "Marie MARTIN", "sn": "MARTIN", "givenName": "Marie", "o": "HOPITAL SAINT-JOSEPH",
		"title": "Médecin", "businessCategory": "Cardiologie", "postalCode": "75014", "l": "PARIS",
		"st": "75", "employeeNumber": "810000001023", "employeeType": "PER",
	}
	for a, v := range want {
		if got := e.GetAttributeValue(a); got != v {
			t.Errorf("%s: %q, want %q", a, got, v)
		}
	}
	if e.DN != "uid=m:marie.martin@medecin.mssante.fr,"+baseDN {
		t.Errorf("DN %q", e.DN)
	}
	byDN, err := c.Search(goldap.NewSearchRequest(e.DN, goldap.ScopeBaseObject, goldap.NeverDerefAliases,
		0, 0, false, "(objectClass=*)", []string{"mail"}, nil))
	if err != nil || len(byDN.Entries) != 1 || len(byDN.Entries[0].Attributes) != 1 {
		t.Errorf("read by DN: %+v, %v", byDN, err)
	}
	dse, err := c.Search(goldap.NewSearchRequest("", goldap.ScopeBaseObject, goldap.NeverDerefAliases,
		0, 0, false, "(objectClass=*)", nil, nil))
	if err != nil || dse.Entries[0].GetAttributeValue("namingContexts") != baseDN ||
		dse.Entries[0].GetAttributeValue("supportedExtension") != oidStartTLS {
		t.Errorf("root DSE: %v", err)
	}
	_, err = c.Search(goldap.NewSearchRequest("ou=other,dc=example", goldap.ScopeWholeSubtree,
		goldap.NeverDerefAliases, 0, 0, false, "(cn=martin)", nil, nil))
	if !isCode(err, goldap.LDAPResultNoSuchObject) {
		t.Errorf("search outside the base: %v", err)
	}
	add := goldap.NewAddRequest("uid=x,"+baseDN, nil)
	add.Attribute("cn", []string{"x"})
	if err := c.Add(add); !isCode(err, goldap.LDAPResultUnwillingToPerform) {
		t.Errorf("add: %v", err)
	}
	if err := c.Del(goldap.NewDelRequest(e.DN, nil)); !isCode(err, goldap.LDAPResultUnwillingToPerform) {
		t.Errorf("delete: %v", err)
	}
}

// TestLdapsearch queries the server with OpenLDAP's ldapsearch, STARTTLS and a
// simple bind, as an administrator would.
func TestLdapsearch(t *testing.T) {
	bin, err := exec.LookPath("ldapsearch")
	if err != nil {
		if os.Getenv("CI") != "" {
			t.Fatal("ldapsearch not installed (Debian package ldap-utils)")
		}
		t.Skip("ldapsearch not installed (Debian package ldap-utils)")
	}
	addr, caFile, _ := testServer(t, false)
	cmd := exec.Command(bin, "-LLL", "-x", "-ZZ", "-H", "ldap://"+addr, "-D", aliceDN, "-w", password,
		"-b", baseDN, "-z", "10", "(|(cn=mart*)(mail=mart*)(sn=mart*))", "cn", "mail")
	// The LDAPTLS_ variables override /etc/ldap/ldap.conf; HOME keeps a
	// developer's .ldaprc out.
	cmd.Env = append(os.Environ(), "HOME="+t.TempDir(), "LDAPTLS_CACERT="+caFile, "LDAPTLS_REQCERT=demand")
	out, err := cmd.CombinedOutput()
	if err != nil {
		t.Fatalf("ldapsearch: %v\n%s", err, out)
	}
	for _, want := range []string{
		"dn: uid=m:marie.martin@medecin.mssante.fr," + baseDN,
		"mail: paul.martinez@pharmacien.mssante.fr",
		"cn: Luc MARTIN",
	} {
		if !strings.Contains(string(out), want) {
			t.Errorf("ldapsearch output lacks %q:\n%s", want, out)
		}
	}
	cmd = exec.Command(bin, "-LLL", "-x", "-H", "ldap://"+addr, "-D", aliceDN, "-w", password, "-b", baseDN, "(cn=mart*)")
	cmd.Env = append(os.Environ(), "HOME="+t.TempDir())
	if out, err := cmd.CombinedOutput(); err == nil || !strings.Contains(string(out), "Confidentiality required") {
		t.Errorf("bind without STARTTLS: %v\n%s", err, out)
	}
}

func TestShutdownNotifiesClients(t *testing.T) {
	addr, _, srv := testServer(t, true)
	c := dial(t, addr, "")
	if _, err := search(c, "(sn=martin)", 0); err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	if err := srv.Shutdown(ctx); err != nil {
		t.Fatal(err)
	}
	if _, err := search(c, "(sn=martin)", 0); err == nil {
		t.Error("search after shutdown succeeded")
	}
	if _, err := net.DialTimeout("tcp", addr, time.Second); err == nil {
		t.Error("the listener still accepts")
	}
}

func TestBaseDN(t *testing.T) {
	for domain, want := range map[string]string{
		"caduceus.example":  "ou=annuaire,dc=caduceus,dc=example",
		"sante.example.fr.": "ou=annuaire,dc=sante,dc=example,dc=fr",
	} {
		if got := BaseDN(domain); got != want {
			t.Errorf("BaseDN(%q) = %q, want %q", domain, got, want)
		}
	}
}

// A bug in a request ends its connection, not the server; the log keeps the
// stack and not the request. A panicking bind check stands for the bug.
func TestPanicEndsOnlyItsConnection(t *testing.T) {
	var logs bytes.Buffer
	var mu sync.Mutex
	logger := slog.New(slog.NewJSONHandler(writerFunc(func(p []byte) (int, error) {
		mu.Lock()
		defer mu.Unlock()
		return logs.Write(p)
	}), nil))
	addr, caFile, _ := testServerWith(t, Options{Logger: logger}, func(ctx context.Context, remote, login, pw string) error {
		panic(errors.New("bind of " + login))
	})
	for range 2 { // the second connection finds the server still serving
		c := dial(t, addr, caFile)
		if err := c.Bind("alice@caduceus.example", password); err == nil {
			t.Fatal("bind succeeded through a panic")
		}
	}
	mu.Lock()
	out := logs.String()
	mu.Unlock()
	if !strings.Contains(out, "panic") || !strings.Contains(out, "stack") {
		t.Errorf("panic not logged with its stack: %s", out)
	}
	if strings.Contains(out, "alice@caduceus.example") {
		t.Errorf("the log holds the request: %s", out)
	}
}

type writerFunc func([]byte) (int, error)

func (f writerFunc) Write(p []byte) (int, error) { return f(p) }
