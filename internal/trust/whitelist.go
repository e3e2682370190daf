package trust

import (
	"crypto/x509"
	"encoding/base64"
	"errors"
	"fmt"
	"slices"
	"strings"

	"github.com/beevik/etree"
	dsig "github.com/russellhaering/goxmldsig"
)

// DefaultNamespace is the XML namespace of the national MSSanté whitelist
// (reference notes §1.1); [trust] whitelist_namespace overrides it.
const DefaultNamespace = "https://listeblanche.mssante.fr/schema"

// dsigNamespace is the namespace of XML-DSig elements (W3C xmldsig-core1).
const dsigNamespace = "http://www.w3.org/2000/09/xmldsig#"

// maxWhitelistBytes bounds the whitelist read from a file or URL.
const maxWhitelistBytes = 32 << 20

// Whitelist is the list of operator domains of the trust space.
type Whitelist struct {
	// Domains are the listed domains, lower case, sorted, without duplicates.
	Domains []string
	// Signed is true when the file carried an XML signature that verified;
	// Signer is then the subject of the signing certificate.
	Signed bool
	Signer string
}

// Has reports whether domain (any case, with or without a final dot) is
// listed.
func (w *Whitelist) Has(domain string) bool {
	_, ok := slices.BinarySearch(w.Domains, normalizeDomain(domain))
	return ok
}

// VerifyFunc checks the chain of the certificate that signed a whitelist:
// leaf first, then the other certificates the signature carried.
type VerifyFunc func(leaf *x509.Certificate, others []*x509.Certificate) error

// ParseWhitelist reads the national whitelist: the text of every Nom element
// inside a Domaine element (XPath //Domaine/Nom) in namespace ns. When the
// document holds an XML-DSig signature, verify must accept its certificate,
// the signature must hold, and only the signed element is read; an unsigned
// document is read whole (Signed false), and a nil verify refuses signed ones.
func ParseWhitelist(data []byte, ns string, verify VerifyFunc) (*Whitelist, error) {
	doc := etree.NewDocument()
	doc.ReadSettings.Permissive = false
	if err := doc.ReadFromBytes(data); err != nil {
		return nil, fmt.Errorf("whitelist XML: %w", err)
	}
	root := doc.Root()
	if root == nil {
		return nil, errors.New("whitelist XML: no root element")
	}
	w := &Whitelist{}
	if sig := findSignature(root); sig != nil {
		if verify == nil {
			return nil, errors.New("whitelist is signed and no verifier was given")
		}
		signed, signer, err := verifySignature(root, sig, verify)
		if err != nil {
			return nil, fmt.Errorf("whitelist signature: %w", err)
		}
		root, w.Signed, w.Signer = signed, true, signer
	}
	seen := map[string]bool{}
	walk(root, func(el *etree.Element) {
		if el.Tag != "Domaine" || el.NamespaceURI() != ns {
			return
		}
		for _, c := range el.ChildElements() {
			if c.Tag != "Nom" || c.NamespaceURI() != ns {
				continue
			}
			d := normalizeDomain(c.Text())
			if validDomain(d) && !seen[d] {
				seen[d] = true
				w.Domains = append(w.Domains, d)
			}
		}
	})
	if len(w.Domains) == 0 {
		return nil, fmt.Errorf("whitelist lists no domain (//Domaine/Nom in namespace %q)", ns)
	}
	slices.Sort(w.Domains)
	return w, nil
}

func walk(el *etree.Element, f func(*etree.Element)) {
	f(el)
	for _, c := range el.ChildElements() {
		walk(c, f)
	}
}

// findSignature returns the first ds:Signature element under root, if any.
func findSignature(root *etree.Element) *etree.Element {
	var found *etree.Element
	walk(root, func(el *etree.Element) {
		if found == nil && el.Tag == "Signature" && el.NamespaceURI() == dsigNamespace {
			found = el
		}
	})
	return found
}

// verifySignature checks the enveloped signature of root with the
// certificate its KeyInfo carries, once verify has accepted that
// certificate, and returns the element the signature covers.
func verifySignature(root, sig *etree.Element, verify VerifyFunc) (*etree.Element, string, error) {
	var certs []*x509.Certificate
	walk(sig, func(el *etree.Element) {
		if el.Tag != "X509Certificate" || el.NamespaceURI() != dsigNamespace {
			return
		}
		der, err := base64.StdEncoding.DecodeString(strings.Join(strings.Fields(el.Text()), ""))
		if err != nil {
			return
		}
		if c, err := x509.ParseCertificate(der); err == nil {
			certs = append(certs, c)
		}
	})
	if len(certs) == 0 {
		return nil, "", errors.New("no signing certificate in KeyInfo")
	}
	if err := verify(certs[0], certs[1:]); err != nil {
		return nil, "", fmt.Errorf("signing certificate: %w", err)
	}
	ctx := dsig.NewDefaultValidationContext(&dsig.MemoryX509CertificateStore{Roots: certs[:1]})
	signed, err := ctx.Validate(root)
	if err != nil {
		return nil, "", err
	}
	return signed, certs[0].Subject.String(), nil
}

func normalizeDomain(d string) string {
	return strings.TrimSuffix(strings.ToLower(strings.TrimSpace(d)), ".")
}

// validDomain accepts a plausible DNS name: labels of letters, digits and
// hyphens separated by dots.
func validDomain(d string) bool {
	if len(d) == 0 || len(d) > 253 || !strings.Contains(d, ".") {
		return false
	}
	for _, label := range strings.Split(d, ".") {
		if label == "" || len(label) > 63 || label[0] == '-' || label[len(label)-1] == '-' {
			return false
		}
		for _, r := range label {
			if !(r >= 'a' && r <= 'z' || r >= '0' && r <= '9' || r == '-') {
				return false
			}
		}
	}
	return true
}
