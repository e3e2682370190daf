package xdm_test

import (
	"archive/zip"
	"bytes"
	"errors"
	"testing"
	"time"

	"caduceus/internal/xdm"
	"caduceus/internal/xdm/xdmtest"
)

func TestRead(t *testing.T) {
	unqualified := xdmtest.Qualified("34112-3", "Compte rendu d'hospitalisation")
	unqualified.BirthDate = ""
	local := xdmtest.Qualified("18842-5", "Lettre de sortie")
	local.INSOID = ""
	for _, tc := range []struct {
		name      string
		docs      []xdmtest.Doc
		codes     []string
		qualified []bool
	}{
		{"qualified INS", []xdmtest.Doc{xdmtest.Qualified("11490-0", "Lettre de liaison")}, []string{"11490-0"}, []bool{true}},
		{"INS without a birth date", []xdmtest.Doc{unqualified}, []string{"34112-3"}, []bool{false}},
		{"local identifier only", []xdmtest.Doc{local}, []string{"18842-5"}, []bool{false}},
		{"several CDAs", []xdmtest.Doc{xdmtest.Qualified("11490-0", "Lettre"), unqualified}, []string{"11490-0", "34112-3"}, []bool{true, false}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			a, err := xdm.Read(xdmtest.Archive(tc.docs...), xdm.Options{})
			if err != nil {
				t.Fatal(err)
			}
			cdas := a.CDAs()
			if len(cdas) != len(tc.codes) {
				t.Fatalf("%d CDAs, want %d", len(cdas), len(tc.codes))
			}
			for i, d := range cdas {
				if d.Code != tc.codes[i] || d.Patient.Qualified != tc.qualified[i] {
					t.Errorf("document %d: code %q qualified %v, want %q %v", i, d.Code, d.Patient.Qualified, tc.codes[i], tc.qualified[i])
				}
				if d.Title != tc.docs[i].Title || d.Patient.Name() != "DUPONT Jeanne" || d.Path == "" {
					t.Errorf("document %d: title %q patient %q path %q", i, d.Title, d.Patient.Name(), d.Path)
				}
				if want := time.Date(2026, 12, 1, 8, 30, 0, 0, time.UTC); !d.Date.Equal(want) {
					t.Errorf("document %d: date %v, want %v", i, d.Date, want)
				}
			}
		})
	}
}

func TestReadRefusesWhatIsNotXDM(t *testing.T) {
	zipOf := func(files map[string]string) []byte {
		var b bytes.Buffer
		zw := zip.NewWriter(&b)
		for n, c := range files {
			w, _ := zw.Create(n)
			w.Write([]byte(c))
		}
		zw.Close()
		return b.Bytes()
	}
	good := xdmtest.Archive(xdmtest.Qualified("11490-0", "Lettre"))
	for _, tc := range []struct {
		name  string
		data  []byte
		notXD bool
	}{
		{"not a zip", []byte("%PDF-1.4 ..."), true},
		{"zip without metadata", zipOf(map[string]string{"README.TXT": "x"}), true},
		{"metadata not XML", zipOf(map[string]string{"IHE_XDM/SUBSET01/METADATA.XML": "<a"}), false},
		{"document missing", zipOf(map[string]string{"IHE_XDM/SUBSET01/METADATA.XML": `<SubmitObjectsRequest><ExtrinsicObject mimeType="text/xml"><Slot name="URI"><ValueList><Value>DOC0001.XML</Value></ValueList></Slot></ExtrinsicObject></SubmitObjectsRequest>`}), false},
		{"CDA that is not one", zipOf(map[string]string{
			"IHE_XDM/SUBSET01/METADATA.XML": `<SubmitObjectsRequest><ExtrinsicObject mimeType="text/xml"><Slot name="URI"><ValueList><Value>DOC0001.XML</Value></ValueList></Slot></ExtrinsicObject></SubmitObjectsRequest>`,
			"IHE_XDM/SUBSET01/DOC0001.XML":  `<html/>`}), false},
		{"truncated", good[:len(good)/2], true},
	} {
		t.Run(tc.name, func(t *testing.T) {
			_, err := xdm.Read(tc.data, xdm.Options{})
			if err == nil {
				t.Fatal("accepted")
			}
			if tc.notXD != errors.Is(err, xdm.ErrNotXDM) {
				t.Fatalf("error %v: ErrNotXDM %v, want %v", err, errors.Is(err, xdm.ErrNotXDM), tc.notXD)
			}
		})
	}
}

// FuzzRead feeds arbitrary bytes, and arbitrary METADATA.XML and CDA inside
// a well-formed zip, to the reader: it must never panic.
func FuzzRead(f *testing.F) {
	f.Add(xdmtest.Archive(xdmtest.Qualified("11490-0", "Lettre")), "", "")
	f.Add([]byte("PK\x03\x04"), "", "")
	f.Add([]byte(nil), `<SubmitObjectsRequest><ExtrinsicObject mimeType="text/xml"><Slot name="URI"><ValueList><Value>../../DOC0001.XML</Value></ValueList></Slot></ExtrinsicObject></SubmitObjectsRequest>`, xdmtest.CDA(xdmtest.Qualified("1", "t")))
	f.Add([]byte(nil), `<ExtrinsicObject mimeType="text/xml"><Slot name="URI"><ValueList><Value>DOC0001.XML</Value></ValueList></Slot><Slot name="sourcePatientInfo"><ValueList><Value>PID-5|</Value></ValueList></Slot><ExternalIdentifier identificationScheme="urn:uuid:58a6f841-87b3-4a3e-92fd-a8ffeff98427" value="^^^&amp;"/></ExtrinsicObject>`, `<?xml version="1.0" encoding="ISO-8859-1"?><ClinicalDocument><recordTarget><patientRole><patient><name><family>\xe9</family></name></patient></patientRole></recordTarget></ClinicalDocument>`)
	f.Fuzz(func(t *testing.T, data []byte, metadata, cda string) {
		xdm.Read(data, xdm.Options{})
		var b bytes.Buffer
		zw := zip.NewWriter(&b)
		w, _ := zw.Create("IHE_XDM/SUBSET01/METADATA.XML")
		w.Write([]byte(metadata))
		w, _ = zw.Create("IHE_XDM/SUBSET01/DOC0001.XML")
		w.Write([]byte(cda))
		zw.Close()
		a, err := xdm.Read(b.Bytes(), xdm.Options{})
		if err == nil && len(a.Documents) == 0 {
			t.Fatal("an archive read without error has no document")
		}
	})
}

// TestConfidentialityCodes reads the MetaDMPMSS codes of the metadata.
func TestConfidentialityCodes(t *testing.T) {
	masked := xdmtest.Qualified("11490-0", "Lettre")
	masked.Confidentiality = xdm.MaskedFromProfessionals
	a, err := xdm.Read(xdmtest.Archive(masked, xdmtest.Qualified("18842-5", "CR")), xdm.Options{})
	if err != nil {
		t.Fatal(err)
	}
	if !a.Documents[0].Restricted(xdm.MaskedFromProfessionals) || a.Documents[0].Restricted(xdm.HiddenFromPatient) || len(a.Documents[1].Restrictions) != 0 {
		t.Fatalf("restrictions: %v, %v", a.Documents[0].Restrictions, a.Documents[1].Restrictions)
	}
}
