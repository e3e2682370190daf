package autoconfig_test

import (
	"context"
	"encoding/xml"
	"io"
	"net/http"
	"net/http/httptest"
	"net/url"
	"strconv"
	"strings"
	"testing"

	"caduceus/internal/autoconfig"
)

var settings = autoconfig.FromListeners("mx.ch-test.fr", ":993", ":143", "", ":587")

func local(_ context.Context, d string) (bool, error) { return d == "ch-test.fr", nil }

// tbServer and thunderbirdConfig are what Thunderbird reads of
// config-v1.1.xml.
type tbServer struct {
	Type           string `xml:"type,attr"`
	Hostname       string `xml:"hostname"`
	Port           int    `xml:"port"`
	SocketType     string `xml:"socketType"`
	Authentication string `xml:"authentication"`
	Username       string `xml:"username"`
}

type thunderbirdConfig struct {
	XMLName  xml.Name `xml:"clientConfig"`
	Provider struct {
		Domains  []string   `xml:"domain"`
		Incoming []tbServer `xml:"incomingServer"`
		Outgoing []tbServer `xml:"outgoingServer"`
	} `xml:"emailProvider"`
}

func get(t *testing.T, h http.Handler, method, target, body string) (int, string) {
	t.Helper()
	req := httptest.NewRequest(method, target, strings.NewReader(body))
	rec := httptest.NewRecorder()
	h.ServeHTTP(rec, req)
	b, _ := io.ReadAll(rec.Result().Body)
	return rec.Code, string(b)
}

// Thunderbird asks both places with the address it was given, and finds
// IMAP over TLS on 993 and submission with STARTTLS on 587, the full
// address as user name.
func TestMozillaAutoconfig(t *testing.T) {
	h := autoconfig.Handler(func() autoconfig.Settings { return settings }, local)
	for _, path := range []string{"/.well-known/autoconfig/mail/config-v1.1.xml", "/mail/config-v1.1.xml"} {
		code, body := get(t, h, "GET", path+"?emailaddress="+url.QueryEscape("dr.martin@ch-test.fr"), "")
		if code != 200 {
			t.Fatalf("%s: %d %s", path, code, body)
		}
		var c thunderbirdConfig
		if err := xml.Unmarshal([]byte(body), &c); err != nil {
			t.Fatalf("%s: not XML a client reads: %v\n%s", path, err, body)
		}
		want := []string{"imap mx.ch-test.fr 993 SSL password-cleartext %EMAILADDRESS%", "smtp mx.ch-test.fr 587 STARTTLS password-cleartext %EMAILADDRESS%"}
		servers := append(c.Provider.Incoming, c.Provider.Outgoing...)
		if len(servers) != 2 || len(c.Provider.Domains) != 1 || c.Provider.Domains[0] != "ch-test.fr" {
			t.Fatalf("%s: %+v", path, c)
		}
		for i, s := range servers {
			got := strings.Join([]string{s.Type, s.Hostname, strconv.Itoa(s.Port), s.SocketType, s.Authentication, s.Username}, " ")
			if got != want[i] {
				t.Errorf("%s: server %d = %q, want %q", path, i, got, want[i])
			}
		}
	}
	if code, _ := get(t, h, "GET", "/mail/config-v1.1.xml?emailaddress=someone@elsewhere.fr", ""); code != 404 {
		t.Errorf("a foreign domain: %d, want 404", code)
	}
	if code, _ := get(t, h, "GET", "/mail/config-v1.1.xml?emailaddress=not-an-address", ""); code != 400 {
		t.Errorf("a malformed address: %d, want 400", code)
	}
}

const outlookRequest = `<?xml version="1.0" encoding="utf-8"?>
<Autodiscover xmlns="http://schemas.microsoft.com/exchange/autodiscover/outlook/requestschema/2006">
  <Request>
    <EMailAddress>dr.martin@ch-test.fr</EMailAddress>
    <AcceptableResponseSchema>http://schemas.microsoft.com/exchange/autodiscover/outlook/responseschema/2006a</AcceptableResponseSchema>
  </Request>
</Autodiscover>`

// Outlook posts its request and reads the IMAP and SMTP protocols of the
// account element.
func TestMicrosoftAutodiscover(t *testing.T) {
	h := autoconfig.Handler(func() autoconfig.Settings { return settings }, local)
	code, body := get(t, h, "POST", "/autodiscover/autodiscover.xml", outlookRequest)
	if code != 200 {
		t.Fatalf("%d %s", code, body)
	}
	var r struct {
		Response struct {
			XMLName xml.Name `xml:"http://schemas.microsoft.com/exchange/autodiscover/outlook/responseschema/2006a Response"`
			Account struct {
				AccountType, Action string
				Protocol            []struct {
					Type, Server, LoginName, SSL, Encryption, AuthRequired string
					Port                                                   int
				}
			}
		}
	}
	if err := xml.Unmarshal([]byte(body), &r); err != nil {
		t.Fatalf("not the XML Outlook reads: %v\n%s", err, body)
	}
	a := r.Response.Account
	if a.AccountType != "email" || a.Action != "settings" || len(a.Protocol) != 2 {
		t.Fatalf("account = %+v", a)
	}
	imapP, smtpP := a.Protocol[0], a.Protocol[1]
	if imapP.Type != "IMAP" || imapP.Server != "mx.ch-test.fr" || imapP.Port != 993 || imapP.SSL != "on" || imapP.Encryption != "" || imapP.LoginName != "dr.martin@ch-test.fr" {
		t.Errorf("IMAP = %+v", imapP)
	}
	if smtpP.Type != "SMTP" || smtpP.Port != 587 || smtpP.Encryption != "TLS" || smtpP.AuthRequired != "on" {
		t.Errorf("SMTP = %+v", smtpP)
	}
	if code, _ := get(t, h, "POST", "/autodiscover/autodiscover.xml", strings.Replace(outlookRequest, "ch-test.fr", "elsewhere.fr", 1)); code != 404 {
		t.Errorf("a foreign domain: %d, want 404", code)
	}
	if code, _ := get(t, h, "POST", "/Autodiscover/Autodiscover.xml", "<nonsense"); code != 400 {
		t.Errorf("a malformed request: %d, want 400", code)
	}
}

// The QR code of a device carries the account, its credential and the
// settings, readable back as a URI.
func TestDeviceURI(t *testing.T) {
	u, err := url.Parse(autoconfig.DeviceURI(settings, "dr.martin@ch-test.fr", "cdc-secret"))
	if err != nil {
		t.Fatal(err)
	}
	q := u.Query()
	if u.Scheme != "mssante-device" || u.Opaque != "dr.martin@ch-test.fr" || q.Get("credential") != "cdc-secret" ||
		q.Get("imap") != "mx.ch-test.fr:993" || q.Get("imap-security") != "tls" || q.Get("smtp") != "mx.ch-test.fr:587" || q.Get("smtp-security") != "starttls" {
		t.Errorf("device URI = %s", u)
	}
}

func FuzzParseAutodiscoverRequest(f *testing.F) {
	f.Add(outlookRequest)
	f.Add("<Autodiscover><Request><EMailAddress>a@b</EMailAddress></Request></Autodiscover>")
	f.Add("<Autodiscover xmlns=\"urn:other\"/>")
	f.Fuzz(func(t *testing.T, s string) {
		addr, err := autoconfig.ParseAutodiscoverRequest(strings.NewReader(s))
		if err == nil && (!strings.Contains(addr, "@") || strings.ContainsAny(addr, "\r\n<>")) {
			t.Fatalf("accepted %q", addr)
		}
	})
}
