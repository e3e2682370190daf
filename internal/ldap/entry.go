package ldap

import (
	"context"
	"strings"

	goldap "github.com/go-ldap/ldap/v3"

	"caduceus/internal/directory"
)

// attribute is one attribute of an entry, with its values.
type attribute struct {
	name   string
	values []string
}

// objectClasses of a directory entry.
var personClasses = []string{"top", "person", "organizationalPerson", "inetOrgPerson"}

// attributes returns the LDAP attributes of a directory entry.
func (s *Server) attributes(e *directory.Entry) []attribute {
	sn := e.LastName
	if sn == "" {
		sn = e.Organisation // sn is required by the person class
	}
	// cn holds the name both ways, so that (cn=martin*) finds Marie Martin as
	// (cn=marie*) does.
	cn := values(e.DisplayName())
	if e.FirstName != "" && e.LastName != "" {
		cn = append(cn, e.LastName+" "+e.FirstName)
	}
	return []attribute{
		{"objectClass", personClasses},
		{"uid", values(e.ID)},
		{"cn", cn},
		{"displayName", values(e.DisplayName())},
		{"sn", values(sn)},
		{"givenName", values(e.FirstName)},
		{"mail", values(e.Mailbox)},
		{"o", values(e.Organisation)},
		{"ou", values(e.Service)},
		{"title", values(firstOf(e.ProfessionLabel, e.Profession))},
		{"businessCategory", values(firstOf(e.SpecialtyLabel, e.Specialty))},
		{"street", values(e.Address)},
		{"postalCode", values(e.Postcode)},
		{"l", values(e.City)},
		{"st", values(e.Department)},
		{"employeeNumber", values(e.NationalID)},
		{"employeeType", values(string(e.MailboxKind))},
	}
}

// knownAttribute reports whether an attribute (in lower case) is one entries
// may have; filters on others are undefined.
func knownAttribute(name string) bool {
	switch name {
	case "objectclass", "uid", "cn", "displayname", "sn", "givenname", "mail", "o", "ou", "title",
		"businesscategory", "street", "postalcode", "l", "st", "employeenumber", "employeetype",
		"namingcontexts", "supportedldapversion", "supportedextension", "vendorname":
		return true
	}
	return false
}

func values(v string) []string {
	if v == "" {
		return nil
	}
	return []string{v}
}

func firstOf(a, b string) string {
	if a != "" {
		return a
	}
	return b
}

// index maps lower-case attribute names to their values, for filters.
func index(attrs []attribute) map[string][]string {
	m := make(map[string][]string, len(attrs))
	for _, a := range attrs {
		m[strings.ToLower(a.name)] = a.values
	}
	return m
}

// dn returns the DN of a directory entry.
func (s *Server) dn(e *directory.Entry) string {
	return "uid=" + goldap.EscapeDN(e.ID) + "," + s.opts.BaseDN
}

// entryOf reads the directory entry a DN one level under the base names.
func (s *Server) entryOf(ctx context.Context, dn *goldap.DN) (directory.Entry, error) {
	rdn := dn.RDNs[0]
	if len(rdn.Attributes) != 1 || !strings.EqualFold(rdn.Attributes[0].Type, "uid") {
		return directory.Entry{}, directory.ErrNotFound
	}
	return s.dir.Entry(ctx, rdn.Attributes[0].Value)
}

// rootDSE describes the server (RFC 4512 §5.1).
func (s *Server) rootDSE() []attribute {
	attrs := []attribute{
		{"objectClass", []string{"top"}},
		{"namingContexts", []string{s.opts.BaseDN}},
		{"supportedLDAPVersion", []string{"3"}},
		{"vendorName", []string{"Caduceus"}},
	}
	if s.opts.TLSConfig != nil {
		attrs = append(attrs, attribute{"supportedExtension", []string{oidStartTLS}})
	}
	return attrs
}

// baseEntry is the entry of the base DN itself.
func (s *Server) baseEntry() []attribute {
	attrs := []attribute{{"objectClass", []string{"top", "organizationalUnit"}}}
	if len(s.base.RDNs) > 0 && len(s.base.RDNs[0].Attributes) > 0 {
		a := s.base.RDNs[0].Attributes[0]
		attrs = append(attrs, attribute{a.Type, []string{a.Value}})
	}
	return attrs
}
