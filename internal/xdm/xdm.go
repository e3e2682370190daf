// Package xdm reads the IHE XDM archives (IHE ITI TF-2b, ITI-32 "Distribute
// Document Set on Media") that MSSanté messages carry as an IHE_XDM.ZIP
// attachment: the submission set's METADATA.XML (an ebRIM
// SubmitObjectsRequest) and the header of each CDA R2 document it lists.
//
// It reads what the MSSanté headers and the web app need (Référentiel #2
// §3.8: X-MSS-CODECDA, X-MSS-INS): the document's title, type code, date and
// patient, and whether the patient carries a qualified INS. It never reads a
// CDA past its header, and bounds every size it reads: the bytes come from
// outside.
package xdm

import (
	"archive/zip"
	"bytes"
	"encoding/xml"
	"errors"
	"fmt"
	"io"
	"path"
	"slices"
	"strings"
	"time"

	"golang.org/x/net/html/charset"
)

// Limits on what one archive may make us read.
const (
	MaxMetadataBytes = 8 << 20  // one METADATA.XML
	MaxHeaderBytes   = 16 << 20 // read of one CDA before its header ends
	MaxDocuments     = 100      // documents of one archive
)

// ErrNotXDM: the bytes are not a readable IHE XDM archive.
var ErrNotXDM = errors.New("xdm: not an IHE XDM archive")

// DefaultINSOIDs are the OIDs of the INS (Identifiant National de Santé):
// NIR, NIA, test and demonstration [verify in the CI-SIS "annexe INS"].
var DefaultINSOIDs = []string{"1.2.250.1.213.1.4.8", "1.2.250.1.213.1.4.9", "1.2.250.1.213.1.4.10", "1.2.250.1.213.1.4.11"}

// Archive is one XDM archive: the documents of its submission sets.
type Archive struct {
	Documents []Document
}

// Document is one document of the archive, as its metadata and, for a CDA,
// its header describe it.
type Document struct {
	// Path is the document's file in the archive, e.g.
	// "IHE_XDM/SUBSET01/DOC0001.XML".
	Path     string
	MimeType string
	// Title is the CDA title, else the metadata's name.
	Title string
	// Code is the document type: the CDA header's code (e.g. LOINC
	// "11490-0"), else the metadata's typeCode; CodeName is its label.
	Code, CodeSystem, CodeName string
	// Date is the CDA effectiveTime, else the metadata's creationTime.
	Date time.Time
	// CDA tells the document is a CDA R2 whose header was read.
	CDA     bool
	Patient Patient
	// Restrictions are the document's confidentiality codes of the
	// MetaDMPMSS system (MaskedFromProfessionals, HiddenFromPatient,
	// HiddenFromGuardians), from its metadata.
	Restrictions []string
}

// The MetaDMPMSS confidentiality codes of a document (ANS, IG-MSS-LPS
// meta-dmp-mss): who may not be sent it.
const (
	MaskedFromProfessionals = "MASQUE_PS"            // no professional
	HiddenFromPatient       = "INVISIBLE_PATIENT"    // not the patient
	HiddenFromGuardians     = "INVISIBLE_REP_LEGAUX" // not the patient's legal guardians
)

// Restricted reports whether the document carries the confidentiality
// code.
func (d Document) Restricted(code string) bool { return slices.Contains(d.Restrictions, code) }

// Patient is the patient a document is about.
type Patient struct {
	// INS is the matricule and INSOID its OID when the document carries one
	// of the INS OIDs given to Read.
	INS, INSOID string
	// BirthName is the birth family name (qualifier BR), Given the first
	// given name, BirthDate as written (YYYYMMDD), Sex the administrative
	// gender code (M, F, U).
	BirthName, UsedName, Given, BirthDate, Sex string
	// Qualified: a qualified INS is present, its matricule and OID with the
	// identity traits (birth name, first given name, birth date, sex).
	Qualified bool
}

// Name is the patient as the web app shows it: "NOM Prénom".
func (p Patient) Name() string {
	name := p.UsedName
	if name == "" {
		name = p.BirthName
	}
	return strings.TrimSpace(name + " " + p.Given)
}

// Options tunes Read.
type Options struct {
	// INSOIDs are the OIDs recognised as INS; nil means DefaultINSOIDs.
	INSOIDs []string
}

// Read reads an IHE_XDM.ZIP held in memory.
func Read(data []byte, opts Options) (*Archive, error) {
	if opts.INSOIDs == nil {
		opts.INSOIDs = DefaultINSOIDs
	}
	zr, err := zip.NewReader(bytes.NewReader(data), int64(len(data)))
	if err != nil {
		return nil, fmt.Errorf("%w: %v", ErrNotXDM, err)
	}
	files := map[string]*zip.File{}
	var metadata []string
	for _, f := range zr.File {
		name := strings.ToUpper(path.Clean(strings.ReplaceAll(f.Name, `\`, "/")))
		files[name] = f
		if dir, base := path.Split(name); base == "METADATA.XML" && strings.HasPrefix(dir, "IHE_XDM/") {
			metadata = append(metadata, name)
		}
	}
	if len(metadata) == 0 {
		return nil, fmt.Errorf("%w: no IHE_XDM/SUBSETxx/METADATA.XML", ErrNotXDM)
	}
	slices.Sort(metadata)
	a := &Archive{}
	for _, m := range metadata {
		docs, err := readMetadata(files[m])
		if err != nil {
			return nil, fmt.Errorf("xdm: %s: %w", m, err)
		}
		for _, d := range docs {
			if len(a.Documents) == MaxDocuments {
				return nil, fmt.Errorf("xdm: more than %d documents", MaxDocuments)
			}
			d.Path = path.Join(path.Dir(m), strings.ToUpper(path.Clean("/" + strings.ReplaceAll(d.Path, `\`, "/")))[1:])
			if isXML(d.MimeType) {
				f, ok := files[d.Path]
				if !ok {
					return nil, fmt.Errorf("xdm: %s: listed in the metadata, missing from the archive", d.Path)
				}
				if err := readCDAHeader(f, &d, opts.INSOIDs); err != nil {
					return nil, fmt.Errorf("xdm: %s: %w", d.Path, err)
				}
			}
			a.Documents = append(a.Documents, d)
		}
	}
	return a, nil
}

// CDAs returns the documents that are CDA R2.
func (a *Archive) CDAs() []Document {
	var out []Document
	for _, d := range a.Documents {
		if d.CDA {
			out = append(out, d)
		}
	}
	return out
}

func isXML(mt string) bool {
	mt = strings.ToLower(strings.TrimSpace(mt))
	return mt == "text/xml" || mt == "application/xml" || strings.HasSuffix(mt, "+xml")
}

func open(f *zip.File, limit int64) (io.ReadCloser, error) {
	rc, err := f.Open()
	if err != nil {
		return nil, err
	}
	return struct {
		io.Reader
		io.Closer
	}{io.LimitReader(rc, limit), rc}, nil
}

func newDecoder(r io.Reader) *xml.Decoder {
	d := xml.NewDecoder(r)
	d.CharsetReader = charset.NewReaderLabel
	d.Strict = true
	return d
}

// The ebRIM identifiers of the XDS metadata (IHE ITI TF-3 §4.2.5).
const (
	schemeTypeCode        = "urn:uuid:f0306f51-975f-434e-a61c-c59651d33983"
	schemeConfidentiality = "urn:uuid:f4f85eac-e6cb-4883-b524-f2705394840f"
	schemePatientID       = "urn:uuid:58a6f841-87b3-4a3e-92fd-a8ffeff98427"
)

type rimName struct {
	Values []struct {
		Value string `xml:"value,attr"`
	} `xml:"LocalizedString"`
}

func (n rimName) String() string {
	if len(n.Values) == 0 {
		return ""
	}
	return strings.TrimSpace(n.Values[0].Value)
}

type rimSlot struct {
	Name   string   `xml:"name,attr"`
	Values []string `xml:"ValueList>Value"`
}

type extrinsicObject struct {
	MimeType        string    `xml:"mimeType,attr"`
	Slots           []rimSlot `xml:"Slot"`
	Name            rimName   `xml:"Name"`
	Classifications []struct {
		Scheme string    `xml:"classificationScheme,attr"`
		Node   string    `xml:"nodeRepresentation,attr"`
		Name   rimName   `xml:"Name"`
		Slots  []rimSlot `xml:"Slot"`
	} `xml:"Classification"`
	ExternalIdentifiers []struct {
		Scheme string `xml:"identificationScheme,attr"`
		Value  string `xml:"value,attr"`
	} `xml:"ExternalIdentifier"`
}

func slot(slots []rimSlot, name string) []string {
	for _, s := range slots {
		if s.Name == name {
			return s.Values
		}
	}
	return nil
}

// readMetadata lists the documents (ExtrinsicObjects) of one submission set.
func readMetadata(f *zip.File) ([]Document, error) {
	rc, err := open(f, MaxMetadataBytes)
	if err != nil {
		return nil, err
	}
	defer rc.Close()
	dec := newDecoder(rc)
	var docs []Document
	for {
		tok, err := dec.Token()
		if err == io.EOF {
			break
		}
		if err != nil {
			return nil, err
		}
		se, ok := tok.(xml.StartElement)
		if !ok || se.Name.Local != "ExtrinsicObject" {
			continue
		}
		if len(docs) == MaxDocuments {
			return nil, fmt.Errorf("more than %d documents", MaxDocuments)
		}
		var eo extrinsicObject
		if err := dec.DecodeElement(&eo, &se); err != nil {
			return nil, err
		}
		d := Document{MimeType: eo.MimeType, Title: eo.Name.String()}
		if v := slot(eo.Slots, "URI"); len(v) > 0 {
			d.Path = strings.TrimSpace(v[0])
		}
		if d.Path == "" {
			return nil, errors.New("a document has no URI")
		}
		if v := slot(eo.Slots, "creationTime"); len(v) > 0 {
			d.Date = parseHL7Time(v[0])
		}
		for _, c := range eo.Classifications {
			if c.Scheme == schemeConfidentiality {
				switch code := strings.TrimSpace(c.Node); code {
				case MaskedFromProfessionals, HiddenFromPatient, HiddenFromGuardians:
					d.Restrictions = append(d.Restrictions, code)
				}
			}
			if c.Scheme == schemeTypeCode {
				d.Code, d.CodeName = c.Node, c.Name.String()
				if v := slot(c.Slots, "codingScheme"); len(v) > 0 {
					d.CodeSystem = v[0]
				}
			}
		}
		for _, v := range slot(eo.Slots, "sourcePatientInfo") {
			field, value, _ := strings.Cut(v, "|")
			comps := strings.Split(value, "^")
			switch field {
			case "PID-5":
				d.Patient.BirthName = comps[0]
				if len(comps) > 1 {
					d.Patient.Given = comps[1]
				}
			case "PID-7":
				d.Patient.BirthDate = value
			case "PID-8":
				d.Patient.Sex = value
			}
		}
		for _, x := range eo.ExternalIdentifiers {
			if x.Scheme == schemePatientID {
				// CX: ID^^^&OID&ISO (HL7 v2.5 §2.A.14).
				id, rest, _ := strings.Cut(x.Value, "^^^&")
				oid, _, _ := strings.Cut(rest, "&")
				d.Patient.INS, d.Patient.INSOID = id, oid
			}
		}
		docs = append(docs, d)
	}
	if len(docs) == 0 {
		return nil, errors.New("no document (ExtrinsicObject)")
	}
	return docs, nil
}

// readCDAHeader reads a CDA R2 document up to the end of its first
// recordTarget (HL7 CDA R2 §4.2): code, title, effectiveTime and the patient.
// The metadata's patient identifier is replaced by the CDA's: the document
// is what the recipient integrates.
func readCDAHeader(f *zip.File, d *Document, insOIDs []string) error {
	rc, err := open(f, MaxHeaderBytes)
	if err != nil {
		return err
	}
	defer rc.Close()
	dec := newDecoder(rc)
	var stack []string
	var p Patient
	var text *string
	var textBuf strings.Builder
	var families []struct{ qualifier, value string }
	givenSeen := false
	for {
		tok, err := dec.Token()
		if err == io.EOF {
			return errors.New("the CDA ends before its recordTarget")
		}
		if err != nil {
			return err
		}
		switch t := tok.(type) {
		case xml.StartElement:
			stack = append(stack, t.Name.Local)
			at := strings.Join(stack, "/")
			if len(stack) == 1 && t.Name.Local != "ClinicalDocument" {
				return fmt.Errorf("root element %s, want ClinicalDocument", t.Name.Local)
			}
			switch at {
			case "ClinicalDocument/code":
				d.Code, d.CodeSystem, d.CodeName = attr(t, "code"), attr(t, "codeSystem"), attr(t, "displayName")
			case "ClinicalDocument/title":
				text = &d.Title
				textBuf.Reset()
			case "ClinicalDocument/effectiveTime":
				if tm := parseHL7Time(attr(t, "value")); !tm.IsZero() {
					d.Date = tm
				}
			case "ClinicalDocument/recordTarget/patientRole/id":
				if root := attr(t, "root"); slices.Contains(insOIDs, root) && p.INS == "" {
					p.INS, p.INSOID = attr(t, "extension"), root
				}
			case "ClinicalDocument/recordTarget/patientRole/patient/name/family":
				families = append(families, struct{ qualifier, value string }{attr(t, "qualifier"), ""})
				text = &families[len(families)-1].value
				textBuf.Reset()
			case "ClinicalDocument/recordTarget/patientRole/patient/name/given":
				if !givenSeen {
					givenSeen = true
					text = &p.Given
					textBuf.Reset()
				}
			case "ClinicalDocument/recordTarget/patientRole/patient/administrativeGenderCode":
				p.Sex = attr(t, "code")
			case "ClinicalDocument/recordTarget/patientRole/patient/birthTime":
				p.BirthDate = attr(t, "value")
			}
		case xml.CharData:
			if text != nil {
				textBuf.Write(t)
			}
		case xml.EndElement:
			if text != nil {
				*text = strings.Join(strings.Fields(textBuf.String()), " ")
				text = nil
			}
			if len(stack) == 2 && stack[1] == "recordTarget" {
				for _, f := range families {
					switch {
					case f.qualifier == "BR" || (f.qualifier == "" && p.BirthName == "" && len(families) == 1):
						p.BirthName = f.value
					case f.qualifier == "SP" || f.qualifier == "CL":
						p.UsedName = f.value
					}
				}
				p.Qualified = p.INS != "" && p.INSOID != "" && p.BirthName != "" && p.Given != "" && p.BirthDate != "" && p.Sex != ""
				d.Patient, d.CDA = p, true
				return nil
			}
			if len(stack) > 0 {
				stack = stack[:len(stack)-1]
			}
		}
	}
}

func attr(se xml.StartElement, name string) string {
	for _, a := range se.Attr {
		if a.Name.Local == name {
			return strings.TrimSpace(a.Value)
		}
	}
	return ""
}

// parseHL7Time reads an HL7 TS (YYYYMMDD[HHMM[SS]][+/-ZZZZ]); zero when it
// does not parse.
func parseHL7Time(v string) time.Time {
	v = strings.TrimSpace(v)
	if i := strings.IndexByte(v, '.'); i >= 0 {
		j := strings.IndexAny(v[i:], "+-")
		if j < 0 {
			v = v[:i]
		} else {
			v = v[:i] + v[i+j:]
		}
	}
	for _, layout := range []string{"20060102150405-0700", "200601021504-0700", "20060102-0700", "20060102150405", "200601021504", "20060102"} {
		if t, err := time.Parse(layout, v); err == nil {
			return t
		}
	}
	return time.Time{}
}
