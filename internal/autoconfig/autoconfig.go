// Package autoconfig tells mail clients how to reach this server from an
// address alone: Mozilla's autoconfig file (Thunderbird, K-9, many others)
// and Microsoft's autodiscover (Outlook), and the settings a device's QR
// code carries at enrolment.
//
// Rules a change must keep:
//   - The answer depends on the domain only, never on whether an account
//     exists: autoconfig is not a way to list addresses.
//   - The login name offered is always the full address, the password a
//     device credential (the guide's "appareils mobiles" page), never the
//     account password.
package autoconfig

import (
	"bytes"
	"context"
	"encoding/xml"
	"fmt"
	"io"
	"net"
	"net/http"
	"net/url"
	"strconv"
	"strings"
)

// Endpoint is where a client connects for one protocol.
type Endpoint struct {
	Host string
	Port int
	// TLS is true for implicit TLS (993, 465), false for STARTTLS (143, 587).
	TLS bool
}

// Settings are the server settings a mail client needs.
type Settings struct {
	// Name is the service's display name.
	Name string
	IMAP Endpoint
	SMTP Endpoint
}

// FromListeners chooses the endpoints from the "host:port" listen
// addresses: implicit TLS when it is on (RFC 8314 §3), STARTTLS otherwise.
// host is the name clients reach the server by.
func FromListeners(host, imaps, imap, submissions, submission string) Settings {
	pick := func(implicit, starttls string, defImplicit int) Endpoint {
		if p := port(implicit); p != 0 {
			return Endpoint{Host: host, Port: p, TLS: true}
		}
		if p := port(starttls); p != 0 {
			return Endpoint{Host: host, Port: p}
		}
		return Endpoint{Host: host, Port: defImplicit, TLS: true}
	}
	return Settings{Name: "Caduceus", IMAP: pick(imaps, imap, 993), SMTP: pick(submissions, submission, 465)}
}

func port(addr string) int {
	_, p, err := net.SplitHostPort(addr)
	if err != nil {
		return 0
	}
	n, err := strconv.Atoi(p)
	if err != nil || n <= 0 {
		return 0
	}
	return n
}

// socketType is the Mozilla name of an endpoint's security.
func (e Endpoint) socketType() string {
	if e.TLS {
		return "SSL"
	}
	return "STARTTLS"
}

type mozServer struct {
	Type           string `xml:"type,attr"`
	Hostname       string `xml:"hostname"`
	Port           int    `xml:"port"`
	SocketType     string `xml:"socketType"`
	Authentication string `xml:"authentication"`
	Username       string `xml:"username"`
}

type mozConfig struct {
	XMLName  xml.Name `xml:"clientConfig"`
	Version  string   `xml:"version,attr"`
	Provider struct {
		ID               string    `xml:"id,attr"`
		Domain           string    `xml:"domain"`
		DisplayName      string    `xml:"displayName"`
		DisplayShortName string    `xml:"displayShortName"`
		Incoming         mozServer `xml:"incomingServer"`
		Outgoing         mozServer `xml:"outgoingServer"`
	} `xml:"emailProvider"`
}

// Mozilla writes the autoconfig file of a domain (the Thunderbird
// "config-v1.1.xml" format).
func Mozilla(s Settings, domain string) ([]byte, error) {
	var c mozConfig
	c.Version = "1.1"
	c.Provider.ID = domain
	c.Provider.Domain = domain
	c.Provider.DisplayName = s.Name + " (" + domain + ")"
	c.Provider.DisplayShortName = s.Name
	c.Provider.Incoming = mozServer{Type: "imap", Hostname: s.IMAP.Host, Port: s.IMAP.Port, SocketType: s.IMAP.socketType(),
		Authentication: "password-cleartext", Username: "%EMAILADDRESS%"}
	c.Provider.Outgoing = mozServer{Type: "smtp", Hostname: s.SMTP.Host, Port: s.SMTP.Port, SocketType: s.SMTP.socketType(),
		Authentication: "password-cleartext", Username: "%EMAILADDRESS%"}
	return marshal(c)
}

// The namespaces of Outlook's POX autodiscover.
const (
	msRequestNS     = "http://schemas.microsoft.com/exchange/autodiscover/outlook/requestschema/2006"
	msResponseNS    = "http://schemas.microsoft.com/exchange/autodiscover/responseschema/2006"
	msOutlookNS     = "http://schemas.microsoft.com/exchange/autodiscover/outlook/responseschema/2006a"
	maxRequestBytes = 16 << 10
)

// msRequest is what Outlook posts.
type msRequest struct {
	XMLName xml.Name `xml:"Autodiscover"`
	Request struct {
		EMailAddress             string `xml:"EMailAddress"`
		AcceptableResponseSchema string `xml:"AcceptableResponseSchema"`
	} `xml:"Request"`
}

type msProtocol struct {
	Type           string `xml:"Type"`
	Server         string `xml:"Server"`
	Port           int    `xml:"Port"`
	DomainRequired string `xml:"DomainRequired"`
	LoginName      string `xml:"LoginName"`
	SPA            string `xml:"SPA"`
	SSL            string `xml:"SSL"`
	Encryption     string `xml:"Encryption,omitempty"`
	AuthRequired   string `xml:"AuthRequired"`
}

type msResponse struct {
	XMLName  xml.Name `xml:"Autodiscover"`
	XMLNS    string   `xml:"xmlns,attr"`
	Response struct {
		XMLNS   string `xml:"xmlns,attr"`
		Account struct {
			AccountType string       `xml:"AccountType"`
			Action      string       `xml:"Action"`
			Protocols   []msProtocol `xml:"Protocol"`
		} `xml:"Account"`
	} `xml:"Response"`
}

// Microsoft writes Outlook's autodiscover answer for an address.
func Microsoft(s Settings, address string) ([]byte, error) {
	var r msResponse
	r.XMLNS = msResponseNS
	r.Response.XMLNS = msOutlookNS
	r.Response.Account.AccountType = "email"
	r.Response.Account.Action = "settings"
	proto := func(typ string, e Endpoint) msProtocol {
		p := msProtocol{Type: typ, Server: e.Host, Port: e.Port, DomainRequired: "off", LoginName: address, SPA: "off", SSL: "on", AuthRequired: "on"}
		if !e.TLS {
			p.Encryption = "TLS" // STARTTLS
		}
		return p
	}
	r.Response.Account.Protocols = []msProtocol{proto("IMAP", s.IMAP), proto("SMTP", s.SMTP)}
	return marshal(r)
}

func marshal(v any) ([]byte, error) {
	var b bytes.Buffer
	b.WriteString(xml.Header)
	enc := xml.NewEncoder(&b)
	enc.Indent("", "  ")
	if err := enc.Encode(v); err != nil {
		return nil, fmt.Errorf("autoconfig: %w", err)
	}
	b.WriteByte('\n')
	return b.Bytes(), nil
}

// ParseAutodiscoverRequest reads the address an Outlook request asks about.
func ParseAutodiscoverRequest(r io.Reader) (string, error) {
	var req msRequest
	if err := xml.NewDecoder(io.LimitReader(r, maxRequestBytes)).Decode(&req); err != nil {
		return "", fmt.Errorf("autodiscover request: %w", err)
	}
	if req.XMLName.Space != "" && req.XMLName.Space != msRequestNS {
		return "", fmt.Errorf("autodiscover request: namespace %q", req.XMLName.Space)
	}
	addr := strings.TrimSpace(req.Request.EMailAddress)
	if !validAddress(addr) {
		return "", fmt.Errorf("autodiscover request: address %q", addr)
	}
	return addr, nil
}

func validAddress(addr string) bool {
	local, domain, ok := strings.Cut(addr, "@")
	return ok && local != "" && domain != "" && len(addr) <= 254 && !strings.ContainsAny(addr, " <>\"\\,;\r\n\t") && !strings.Contains(domain, "@")
}

// DomainChecker tells whether mail for a domain is handled here.
type DomainChecker func(ctx context.Context, domain string) (bool, error)

// Handler serves GET /.well-known/autoconfig/mail/config-v1.1.xml and
// GET /mail/config-v1.1.xml (with the emailaddress query parameter, or the
// autoconfig.DOMAIN host name), and POST /autodiscover/autodiscover.xml
// (also under /Autodiscover/Autodiscover.xml, as Outlook spells it). A
// domain that is not local is 404. settings is read at each request.
func Handler(settings func() Settings, local DomainChecker) http.Handler {
	mux := http.NewServeMux()
	moz := func(w http.ResponseWriter, r *http.Request) {
		domain := ""
		if addr := r.URL.Query().Get("emailaddress"); addr != "" {
			if !validAddress(addr) {
				http.Error(w, "bad emailaddress", http.StatusBadRequest)
				return
			}
			_, domain, _ = strings.Cut(addr, "@")
		} else {
			host, _, err := net.SplitHostPort(r.Host)
			if err != nil {
				host = r.Host
			}
			domain = strings.TrimPrefix(host, "autoconfig.")
		}
		domain = strings.ToLower(domain)
		if !isLocal(w, r, local, domain) {
			return
		}
		b, err := Mozilla(settings(), domain)
		if err != nil {
			http.Error(w, "internal error", http.StatusInternalServerError)
			return
		}
		writeXML(w, b)
	}
	mux.HandleFunc("GET /.well-known/autoconfig/mail/config-v1.1.xml", moz)
	mux.HandleFunc("GET /mail/config-v1.1.xml", moz)
	ms := func(w http.ResponseWriter, r *http.Request) {
		addr, err := ParseAutodiscoverRequest(r.Body)
		if err != nil {
			http.Error(w, "bad request", http.StatusBadRequest)
			return
		}
		_, domain, _ := strings.Cut(strings.ToLower(addr), "@")
		if !isLocal(w, r, local, domain) {
			return
		}
		b, err := Microsoft(settings(), addr)
		if err != nil {
			http.Error(w, "internal error", http.StatusInternalServerError)
			return
		}
		writeXML(w, b)
	}
	mux.HandleFunc("POST /autodiscover/autodiscover.xml", ms)
	mux.HandleFunc("POST /Autodiscover/Autodiscover.xml", ms)
	return mux
}

func isLocal(w http.ResponseWriter, r *http.Request, local DomainChecker, domain string) bool {
	ok, err := local(r.Context(), domain)
	if err != nil {
		http.Error(w, "internal error", http.StatusInternalServerError)
		return false
	}
	if !ok {
		http.NotFound(w, r)
	}
	return ok
}

func writeXML(w http.ResponseWriter, b []byte) {
	w.Header().Set("Content-Type", "application/xml; charset=utf-8")
	w.Header().Set("Cache-Control", "public, max-age=3600")
	w.Write(b)
}

// DeviceURI is what a device's QR code holds: the account, its credential
// and the server settings, as one URI a person can also read.
//
//	mssante-device:ADDRESS?credential=…&imap=HOST:993&imap-security=tls&smtp=HOST:465&smtp-security=tls
func DeviceURI(s Settings, address, credential string) string {
	sec := func(e Endpoint) string {
		if e.TLS {
			return "tls"
		}
		return "starttls"
	}
	q := url.Values{}
	q.Set("credential", credential)
	q.Set("imap", net.JoinHostPort(s.IMAP.Host, strconv.Itoa(s.IMAP.Port)))
	q.Set("imap-security", sec(s.IMAP))
	q.Set("smtp", net.JoinHostPort(s.SMTP.Host, strconv.Itoa(s.SMTP.Port)))
	q.Set("smtp-security", sec(s.SMTP))
	return "mssante-device:" + address + "?" + q.Encode()
}
