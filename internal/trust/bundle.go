package trust

import (
	"bytes"
	"crypto/x509"
	"encoding/asn1"
	"encoding/pem"
	"errors"
	"fmt"
)

// oidSignedData is the PKCS#7 signed-data content type. RFC 2315 §14.
var oidSignedData = asn1.ObjectIdentifier{1, 2, 840, 113549, 1, 7, 2}

// ParseBundle reads CA certificates from PEM (any number of CERTIFICATE or
// PKCS7 blocks), a DER certificate, or a DER PKCS#7 "certs-only" bundle such
// as the .p7b the IGC-Santé publishes.
func ParseBundle(data []byte) ([]*x509.Certificate, error) {
	var certs []*x509.Certificate
	if bytes.Contains(data, []byte("-----BEGIN")) {
		rest := data
		for {
			var b *pem.Block
			b, rest = pem.Decode(rest)
			if b == nil {
				break
			}
			switch b.Type {
			case "CERTIFICATE":
				c, err := x509.ParseCertificate(b.Bytes)
				if err != nil {
					return nil, fmt.Errorf("PEM certificate: %w", err)
				}
				certs = append(certs, c)
			case "PKCS7":
				cs, err := parsePKCS7(b.Bytes)
				if err != nil {
					return nil, err
				}
				certs = append(certs, cs...)
			}
		}
	} else if c, err := x509.ParseCertificate(data); err == nil {
		certs = append(certs, c)
	} else {
		cs, err := parsePKCS7(data)
		if err != nil {
			return nil, err
		}
		certs = cs
	}
	if len(certs) == 0 {
		return nil, errors.New("no certificate in the bundle")
	}
	return certs, nil
}

// contentInfo is RFC 2315 §7's ContentInfo.
type contentInfo struct {
	ContentType asn1.ObjectIdentifier
	Content     asn1.RawValue `asn1:"explicit,optional,tag:0"`
}

// signedData is RFC 2315 §9.1's SignedData, down to the certificates; the
// CRLs and signer infos of a certs-only bundle are not needed.
type signedData struct {
	Version          int
	DigestAlgorithms asn1.RawValue
	ContentInfo      asn1.RawValue
	Certificates     asn1.RawValue `asn1:"optional,tag:0"`
	Rest             asn1.RawValue `asn1:"optional"`
}

// parsePKCS7 returns the certificates of a DER PKCS#7 SignedData.
func parsePKCS7(der []byte) ([]*x509.Certificate, error) {
	var ci contentInfo
	if rest, err := asn1.Unmarshal(der, &ci); err != nil {
		return nil, fmt.Errorf("PKCS#7: %w", err)
	} else if len(rest) > 0 {
		return nil, errors.New("PKCS#7: trailing data")
	}
	if !ci.ContentType.Equal(oidSignedData) {
		return nil, fmt.Errorf("PKCS#7: content type %v is not signed-data", ci.ContentType)
	}
	var sd signedData
	if _, err := asn1.Unmarshal(ci.Content.Bytes, &sd); err != nil {
		return nil, fmt.Errorf("PKCS#7 signed-data: %w", err)
	}
	if len(sd.Certificates.Bytes) == 0 {
		return nil, errors.New("PKCS#7: no certificates")
	}
	// [0] IMPLICIT SET OF Certificate: the contents are the certificates
	// one after the other.
	certs, err := x509.ParseCertificates(sd.Certificates.Bytes)
	if err != nil {
		return nil, fmt.Errorf("PKCS#7 certificates: %w", err)
	}
	return certs, nil
}

// MarshalPKCS7 writes certs as a DER PKCS#7 certs-only bundle (RFC 2315
// §9.1 with no content and no signers), the form of the authority's .p7b.
func MarshalPKCS7(certs []*x509.Certificate) ([]byte, error) {
	var raw []byte
	for _, c := range certs {
		raw = append(raw, c.Raw...)
	}
	inner, err := asn1.Marshal(struct {
		ContentType asn1.ObjectIdentifier
	}{asn1.ObjectIdentifier{1, 2, 840, 113549, 1, 7, 1}})
	if err != nil {
		return nil, err
	}
	sd, err := asn1.Marshal(struct {
		Version          int
		DigestAlgorithms asn1.RawValue
		ContentInfo      asn1.RawValue
		Certificates     asn1.RawValue
		SignerInfos      asn1.RawValue
	}{
		Version:          1,
		DigestAlgorithms: asn1.RawValue{Class: asn1.ClassUniversal, Tag: asn1.TagSet, IsCompound: true},
		ContentInfo:      asn1.RawValue{FullBytes: inner},
		Certificates:     asn1.RawValue{Class: asn1.ClassContextSpecific, Tag: 0, IsCompound: true, Bytes: raw},
		SignerInfos:      asn1.RawValue{Class: asn1.ClassUniversal, Tag: asn1.TagSet, IsCompound: true},
	})
	if err != nil {
		return nil, err
	}
	return asn1.Marshal(contentInfo{
		ContentType: oidSignedData,
		Content:     asn1.RawValue{Class: asn1.ClassContextSpecific, Tag: 0, IsCompound: true, Bytes: sd},
	})
}
