package core_test

import (
	"context"
	"errors"
	"strings"
	"testing"

	"caduceus/internal/core"
	"caduceus/internal/core/coretest"
	"caduceus/internal/xdm/xdmtest"
)

// TestMSSanteHeaders submits messages with and without XDM archives and
// reads the MSSanté headers on what was sent (Référentiel #2 §3.8).
func TestMSSanteHeaders(t *testing.T) {
	ctx := context.Background()
	svc := coretest.New(t, coretest.Options{NIL: "NIL-CADUCEUS-TEST"})
	alice := coretest.User(t, svc, "alice", "Alice")
	coretest.User(t, svc, "bob", "Bob")
	from := "alice@" + coretest.Domain
	unqualified := xdmtest.Qualified("34112-3", "Compte rendu")
	unqualified.Sex = ""
	patient := "279035121518989@patient.mssante.fr"
	masked := xdmtest.Qualified("11490-0", "Lettre")
	masked.Confidentiality = "MASQUE_PS"
	hidden := xdmtest.Qualified("11490-0", "Lettre")
	hidden.Confidentiality = "INVISIBLE_PATIENT"
	for _, tc := range []struct {
		name    string
		to      string
		data    []byte
		block   bool
		want    map[string]string // header → value; "" means absent
		wantErr error
	}{
		{name: "plain message", to: "bob@" + coretest.Domain,
			data: []byte("From: " + from + "\r\nSubject: s\r\nX-MSS-INS: O\r\n\r\nb\r\n"),
			want: map[string]string{"X-MSS-NIL": "NIL-CADUCEUS-TEST", "X-MSS-CODECDA": "", "X-MSS-INS": "", "X-MSS-MES": ""}},
		{name: "CDA with a qualified INS", to: "bob@" + coretest.Domain,
			data: xdmtest.Message(from, "bob", "XDM/1.0/DDM Lettre", "", xdmtest.Archive(xdmtest.Qualified("11490-0", "Lettre de liaison"))),
			want: map[string]string{"X-MSS-NIL": "NIL-CADUCEUS-TEST", "X-MSS-CODECDA": "11490-0", "X-MSS-INS": "O"}},
		{name: "CDA without a qualified INS", to: "bob@" + coretest.Domain,
			data: xdmtest.Message(from, "bob", "XDM/1.0/DDM CR", "X-MSS-INS: O\r\n", xdmtest.Archive(unqualified)),
			want: map[string]string{"X-MSS-CODECDA": "34112-3", "X-MSS-INS": "N"}},
		{name: "several CDAs", to: "bob@" + coretest.Domain,
			data: xdmtest.Message(from, "bob", "XDM/1.0/DDM Dossier", "", xdmtest.Archive(xdmtest.Qualified("11490-0", "Lettre"), xdmtest.Qualified("18842-5", "CR"))),
			want: map[string]string{"X-MSS-CODECDA": "11490-0,18842-5", "X-MSS-INS": "O"}},
		{name: "several CDAs, one unqualified", to: "bob@" + coretest.Domain,
			data: xdmtest.Message(from, "bob", "XDM/1.0/DDM Dossier", "", xdmtest.Archive(xdmtest.Qualified("11490-0", "Lettre"), unqualified)),
			want: map[string]string{"X-MSS-CODECDA": "11490-0,34112-3", "X-MSS-INS": "N"}},
		{name: "replies blocked to a patient", to: patient, block: true,
			data: []byte("From: " + from + "\r\nSubject: s\r\n\r\nb\r\n"),
			want: map[string]string{"X-MSS-MES": "FIN"}},
		{name: "replies blocked to a professional", to: "bob@" + coretest.Domain, block: true,
			data: []byte("From: " + from + "\r\nSubject: s\r\nX-MSS-MES: FIN\r\n\r\nb\r\n"),
			want: map[string]string{"X-MSS-MES": ""}},
		{name: "masked to professionals, to a professional", to: "bob@" + coretest.Domain,
			data:    xdmtest.Message(from, "bob", "XDM/1.0/DDM CR", "", xdmtest.Archive(masked)),
			wantErr: core.ErrRestricted},
		{name: "masked to professionals, to the patient", to: patient,
			data: xdmtest.Message(from, patient, "XDM/1.0/DDM CR", "", xdmtest.Archive(masked)),
			want: map[string]string{"X-MSS-CODECDA": "11490-0", "X-MSS-INS": "O"}},
		{name: "hidden from the patient, to the patient", to: patient,
			data:    xdmtest.Message(from, patient, "XDM/1.0/DDM CR", "", xdmtest.Archive(xdmtest.Qualified("11490-0", "Lettre"), hidden)),
			wantErr: core.ErrRestricted},
		{name: "hidden from the patient, to a professional", to: "bob@" + coretest.Domain,
			data: xdmtest.Message(from, "bob", "XDM/1.0/DDM CR", "", xdmtest.Archive(hidden)),
			want: map[string]string{"X-MSS-CODECDA": "11490-0", "X-MSS-INS": "O"}},
		{name: "unreadable archive", to: "bob@" + coretest.Domain,
			data:    xdmtest.Message(from, "bob", "XDM/1.0/DDM Lettre", "", []byte("not a zip")),
			wantErr: core.ErrInvalid},
	} {
		t.Run(tc.name, func(t *testing.T) {
			res, err := svc.Submit(ctx, alice, core.Submission{MailFrom: from, Recipients: []string{tc.to}, Data: tc.data, BlockPatientReplies: tc.block})
			if tc.wantErr != nil {
				if !errors.Is(err, tc.wantErr) {
					t.Fatalf("submit: %v, want %v", err, tc.wantErr)
				}
				return
			}
			if err != nil {
				t.Fatal(err)
			}
			sent := coretest.Folder(t, svc, from, "Sent")
			msgs, err := svc.Messages(ctx, alice, sent.ID, core.MessageQuery{})
			if err != nil {
				t.Fatal(err)
			}
			var raw []byte
			for _, m := range msgs {
				if m.UID == res.SentUID {
					raw, err = svc.ReadMessage(ctx, alice, m.ID)
				}
			}
			if err != nil || raw == nil {
				t.Fatalf("sent copy: %v", err)
			}
			head, _, _ := strings.Cut(string(raw), "\r\n\r\n")
			for k, v := range tc.want {
				got, found := "", false
				for _, line := range strings.Split(head, "\r\n") {
					if name, value, ok := strings.Cut(line, ": "); ok && strings.EqualFold(name, k) {
						if found {
							t.Errorf("%s twice", k)
						}
						got, found = value, true
					}
				}
				if got != v {
					t.Errorf("%s = %q, want %q\n%s", k, got, v, head)
				}
			}
		})
	}
}

// TestPatientReplies: a patient (Mon Espace Santé) may only answer a
// professional who wrote first, and not when replies were blocked.
func TestPatientReplies(t *testing.T) {
	ctx := context.Background()
	svc := coretest.New(t, coretest.Options{})
	alice := coretest.User(t, svc, "alice", "Alice")
	from := "alice@" + coretest.Domain
	patient := "279035121518989@patient.mssante.fr"
	for _, tc := range []struct {
		id    string
		block bool
	}{{"open", false}, {"closed", true}} {
		data := []byte("From: " + from + "\r\nTo: " + patient + "\r\nSubject: s\r\nMessage-ID: <" + tc.id + "@test>\r\n\r\nb\r\n")
		if _, err := svc.Submit(ctx, alice, core.Submission{MailFrom: from, Recipients: []string{patient}, Data: data, BlockPatientReplies: tc.block}); err != nil {
			t.Fatal(err)
		}
	}
	for _, tc := range []struct {
		name, from, extra string
		ok                bool
	}{
		{"patient starts", patient, "", false},
		{"patient answers", patient, "In-Reply-To: <open@test>\r\n", true},
		{"patient answers a blocked message", patient, "In-Reply-To: <closed@test>\r\n", false},
		{"another patient answers", "1@patient.mssante.fr", "In-Reply-To: <open@test>\r\n", false},
		{"professional starts", "dr@autre.mssante.fr", "", true},
	} {
		data := []byte("From: " + tc.from + "\r\nTo: " + from + "\r\nSubject: r\r\n" + tc.extra + "\r\nb\r\n")
		err := svc.Deliver(ctx, core.System("smtp"), core.Delivery{MailFrom: tc.from, Recipients: []string{from}, Data: data})
		if tc.ok != (err == nil) || (err != nil && !errors.Is(err, core.ErrPermission)) {
			t.Errorf("%s: %v", tc.name, err)
		}
	}
}
