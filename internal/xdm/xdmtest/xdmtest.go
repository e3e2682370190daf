// Package xdmtest builds IHE XDM archives (IHE_XDM.ZIP) holding CDA R2
// documents, as a hospital's software would attach them to an MSSanté
// message, for the tests of the packages that read them.
package xdmtest

import (
	"archive/zip"
	"bytes"
	"encoding/base64"
	"encoding/xml"
	"fmt"
	"strings"
)

// Doc is one CDA document to put in an archive.
type Doc struct {
	Code, CodeName, Title string
	Date                  string // HL7 TS, e.g. "20261201093000+0100"
	// INS and INSOID identify the patient; an empty INSOID leaves only a
	// local identifier.
	INS, INSOID string
	// The identity traits; leave one empty for an unqualified INS.
	BirthName, Given, BirthDate, Sex string
	// Confidentiality is a MetaDMPMSS code for the metadata (MASQUE_PS…).
	Confidentiality string
}

// Qualified returns a document whose patient carries a qualified INS (NIR
// OID and every trait).
func Qualified(code, title string) Doc {
	return Doc{Code: code, CodeName: title, Title: title, Date: "20261201093000+0100",
		INS: "279035121518989", INSOID: "1.2.250.1.213.1.4.8",
		BirthName: "DUPONT", Given: "Jeanne", BirthDate: "19790315", Sex: "F"}
}

// confidentiality is the metadata's confidentialityCode classification of
// document n, none when code is empty.
func confidentiality(n int, code string) string {
	if code == "" {
		return ""
	}
	return fmt.Sprintf(`<rim:Classification classificationScheme="urn:uuid:f4f85eac-e6cb-4883-b524-f2705394840f" classifiedObject="Document%02d" nodeRepresentation="%s"><rim:Slot name="codingScheme"><rim:ValueList><rim:Value>1.2.250.1.213.1.1.4.13</rim:Value></rim:ValueList></rim:Slot></rim:Classification>
`, n, esc(code))
}

// Archive returns the bytes of an IHE_XDM.ZIP with one submission set
// holding docs as DOC0001.XML, DOC0002.XML…
func Archive(docs ...Doc) []byte {
	var buf bytes.Buffer
	zw := zip.NewWriter(&buf)
	put := func(name, body string) {
		w, err := zw.Create(name)
		if err != nil {
			panic(err)
		}
		w.Write([]byte(body))
	}
	put("README.TXT", "Archive IHE XDM de test\r\n")
	put("INDEX.HTM", "<html><body>Documents</body></html>")
	var meta strings.Builder
	meta.WriteString(`<?xml version="1.0" encoding="UTF-8"?>
<lcm:SubmitObjectsRequest xmlns:lcm="urn:oasis:names:tc:ebxml-regrep:xsd:lcm:3.0" xmlns:rim="urn:oasis:names:tc:ebxml-regrep:xsd:rim:3.0"><rim:RegistryObjectList>`)
	for i, d := range docs {
		uri := fmt.Sprintf("DOC%04d.XML", i+1)
		fmt.Fprintf(&meta, `<rim:ExtrinsicObject id="Document%02d" mimeType="text/xml" objectType="urn:uuid:7edca82f-054d-47f2-a032-9b2a5b5186c1">
<rim:Slot name="creationTime"><rim:ValueList><rim:Value>%s</rim:Value></rim:ValueList></rim:Slot>
<rim:Slot name="URI"><rim:ValueList><rim:Value>%s</rim:Value></rim:ValueList></rim:Slot>
<rim:Slot name="sourcePatientInfo"><rim:ValueList><rim:Value>PID-5|%s^%s^^^^^L</rim:Value><rim:Value>PID-7|%s</rim:Value><rim:Value>PID-8|%s</rim:Value></rim:ValueList></rim:Slot>
<rim:Name><rim:LocalizedString value="%s"/></rim:Name>
<rim:Classification classificationScheme="urn:uuid:f0306f51-975f-434e-a61c-c59651d33983" classifiedObject="Document%02d" nodeRepresentation="%s"><rim:Slot name="codingScheme"><rim:ValueList><rim:Value>2.16.840.1.113883.6.1</rim:Value></rim:ValueList></rim:Slot><rim:Name><rim:LocalizedString value="%s"/></rim:Name></rim:Classification>
<rim:ExternalIdentifier identificationScheme="urn:uuid:58a6f841-87b3-4a3e-92fd-a8ffeff98427" value="%s^^^&amp;%s&amp;ISO"/>
%s</rim:ExtrinsicObject>`, i+1, esc(d.Date[:min(len(d.Date), 14)]), uri, esc(d.BirthName), esc(d.Given), esc(d.BirthDate), esc(d.Sex), esc(d.Title), i+1, esc(d.Code), esc(d.CodeName), esc(d.INS), esc(d.INSOID), confidentiality(i+1, d.Confidentiality))
		put("IHE_XDM/SUBSET01/"+uri, CDA(d))
	}
	meta.WriteString(`</rim:RegistryObjectList></lcm:SubmitObjectsRequest>`)
	put("IHE_XDM/SUBSET01/METADATA.XML", meta.String())
	if err := zw.Close(); err != nil {
		panic(err)
	}
	return buf.Bytes()
}

// CDA returns the document d as a CDA R2 with a structured body.
func CDA(d Doc) string {
	root := d.INSOID
	if root == "" {
		root = "1.2.250.1.71.4.2.7.1"
	}
	var traits strings.Builder
	if d.Given != "" {
		fmt.Fprintf(&traits, `<given>%s</given><given>Marie</given>`, esc(d.Given))
	}
	if d.BirthName != "" {
		fmt.Fprintf(&traits, `<family qualifier="BR">%s</family>`, esc(d.BirthName))
	}
	gender, birth := "", ""
	if d.Sex != "" {
		gender = fmt.Sprintf(`<administrativeGenderCode code="%s" codeSystem="2.16.840.1.113883.5.1"/>`, esc(d.Sex))
	}
	if d.BirthDate != "" {
		birth = fmt.Sprintf(`<birthTime value="%s"/>`, esc(d.BirthDate))
	}
	return fmt.Sprintf(`<?xml version="1.0" encoding="UTF-8"?>
<ClinicalDocument xmlns="urn:hl7-org:v3" xmlns:xsi="http://www.w3.org/2001/XMLSchema-instance">
<realmCode code="FR"/>
<typeId root="2.16.840.1.113883.1.3" extension="POCD_HD000040"/>
<id root="1.2.250.1.213.1.1.9" extension="%s"/>
<code code="%s" codeSystem="2.16.840.1.113883.6.1" displayName="%s"/>
<title>%s</title>
<effectiveTime value="%s"/>
<confidentialityCode code="N" codeSystem="2.16.840.1.113883.5.25"/>
<recordTarget><patientRole>
<id root="1.2.250.1.213.1.4.2" extension="IPP123"/>
<id root="%s" extension="%s"/>
<patient><name>%s</name>%s%s</patient>
</patientRole></recordTarget>
<component><structuredBody><component><section><text>Contenu clinique</text></section></component></structuredBody></component>
</ClinicalDocument>`, esc(d.Code), esc(d.Code), esc(d.CodeName), esc(d.Title), esc(d.Date), root, esc(d.INS), traits.String(), gender, birth)
}

func esc(s string) string {
	var b strings.Builder
	xml.EscapeText(&b, []byte(s))
	return b.String()
}

// PDF is a minimal PDF, the human-readable copy sent beside an archive.
const PDF = "%PDF-1.4\n1 0 obj<</Type/Catalog/Pages 2 0 R>>endobj 2 0 obj<</Type/Pages/Kids[3 0 R]/Count 1>>endobj 3 0 obj<</Type/Page/Parent 2 0 R/MediaBox[0 0 200 200]>>endobj\ntrailer<</Root 1 0 R>>\n%%EOF\n"

// Message returns an RFC 5322 message from → to with a text body, a PDF
// named lettre.pdf and archive attached as IHE_XDM.ZIP; extra header lines
// (CRLF-terminated) go in the header.
func Message(from, to, subject, extra string, archive []byte) []byte {
	var b strings.Builder
	fmt.Fprintf(&b, "From: %s\r\nTo: %s\r\nSubject: %s\r\nMIME-Version: 1.0\r\n%sContent-Type: multipart/mixed; boundary=\"xdm-boundary\"\r\n\r\n", from, to, subject, extra)
	b.WriteString("--xdm-boundary\r\nContent-Type: text/plain; charset=utf-8\r\n\r\nBonjour, voici le document.\r\n")
	b.WriteString("--xdm-boundary\r\nContent-Type: application/pdf; name=\"lettre.pdf\"\r\nContent-Disposition: attachment; filename=\"lettre.pdf\"\r\nContent-Transfer-Encoding: base64\r\n\r\n")
	b.WriteString(base64Lines([]byte(PDF)))
	b.WriteString("--xdm-boundary\r\nContent-Type: application/zip; name=\"IHE_XDM.ZIP\"\r\nContent-Disposition: attachment; filename=\"IHE_XDM.ZIP\"\r\nContent-Transfer-Encoding: base64\r\n\r\n")
	b.WriteString(base64Lines(archive))
	b.WriteString("--xdm-boundary--\r\n")
	return []byte(b.String())
}

func base64Lines(data []byte) string {
	s := base64.StdEncoding.EncodeToString(data)
	var b strings.Builder
	for len(s) > 76 {
		b.WriteString(s[:76] + "\r\n")
		s = s[76:]
	}
	b.WriteString(s + "\r\n")
	return b.String()
}
