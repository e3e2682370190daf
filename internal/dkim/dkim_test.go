package dkim

import (
	"bytes"
	"errors"
	"strings"
	"testing"
)

const testMessage = "From: Claire Martin <claire.martin@chu-demo.mssante.fr>\r\n" +
	"To: bob@autre.mssante.fr\r\n" +
	"Subject: Compte rendu\r\n" +
	"Date: Thu, 03 Dec 2026 08:00:00 +0100\r\n" +
	"Message-ID: <abc@chu-demo.mssante.fr>\r\n" +
	"X-MSS-NIL: TEST-NIL\r\n" +
	"\r\n" +
	"Bonjour,\r\nle compte rendu suit.\r\n"

// dns serves the TXT record a key prints, as an operator would publish it.
func dns(t *testing.T, keys ...*Key) LookupTXT {
	t.Helper()
	zone := map[string]string{}
	for _, k := range keys {
		rec, err := k.Record()
		if err != nil {
			t.Fatal(err)
		}
		zone[k.RecordName()] = rec
	}
	return func(name string) ([]string, error) {
		if rec, ok := zone[strings.ToLower(name)]; ok {
			return []string{rec}, nil
		}
		return nil, errors.New("no such host")
	}
}

func TestSignVerify(t *testing.T) {
	k, err := Generate("chu-demo.mssante.fr", "caduceus1")
	if err != nil {
		t.Fatal(err)
	}
	if got, want := k.RecordName(), "caduceus1._domainkey.chu-demo.mssante.fr"; got != want {
		t.Fatalf("record name %q, want %q", got, want)
	}
	signed, err := Sign([]byte(testMessage), k)
	if err != nil {
		t.Fatal(err)
	}
	if !bytes.HasPrefix(signed, []byte("DKIM-Signature: ")) || !bytes.HasSuffix(signed, []byte(testMessage)) {
		t.Fatalf("signed message does not start with the signature and keep the message:\n%s", signed)
	}
	other, err := Generate("chu-demo.mssante.fr", "caduceus1")
	if err != nil {
		t.Fatal(err)
	}
	for _, tc := range []struct {
		name   string
		msg    string
		lookup LookupTXT
		want   string
	}{
		{"intact", string(signed), dns(t, k), "dkim=pass header.d=chu-demo.mssante.fr"},
		{"body changed", strings.Replace(string(signed), "le compte rendu", "la facture", 1), dns(t, k), "dkim=fail"},
		{"subject changed", strings.Replace(string(signed), "Subject: Compte rendu", "Subject: Urgent", 1), dns(t, k), "dkim=fail"},
		{"MSSanté header added", "X-MSS-INS: O\r\n" + string(signed), dns(t, k), "dkim=fail"},
		{"another key published", string(signed), dns(t, other), "dkim=fail"},
		{"no record", string(signed), dns(t), "dkim=permerror"},
		{"unsigned", testMessage, dns(t, k), "dkim=none"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			got := Verify(strings.NewReader(tc.msg), "mx.autre.mssante.fr", tc.lookup)
			if !strings.HasPrefix(got, "mx.autre.mssante.fr;") || !strings.Contains(got, tc.want) {
				t.Fatalf("Authentication-Results %q, want %q", got, tc.want)
			}
		})
	}
}

func TestSealOpen(t *testing.T) {
	k, err := Generate("chu-demo.mssante.fr", "s1")
	if err != nil {
		t.Fatal(err)
	}
	secret := bytes.Repeat([]byte{7}, 32)
	sealed, err := k.Seal(secret)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := Open("chu-demo.mssante.fr", "s1", bytes.Repeat([]byte{8}, 32), sealed); err == nil {
		t.Fatal("opened with the wrong secret")
	}
	if _, err := Open("autre.mssante.fr", "s1", secret, sealed); err == nil {
		t.Fatal("opened as another domain's key")
	}
	back, err := Open("chu-demo.mssante.fr", "s1", secret, sealed)
	if err != nil {
		t.Fatal(err)
	}
	signed, err := Sign([]byte(testMessage), back)
	if err != nil {
		t.Fatal(err)
	}
	if got := Verify(bytes.NewReader(signed), "mx", dns(t, k)); !strings.Contains(got, "dkim=pass") {
		t.Fatalf("key opened from its sealed form does not sign: %s", got)
	}
}

func TestGenerateRefusesBadNames(t *testing.T) {
	for _, tc := range []struct{ domain, selector string }{
		{"", "s1"}, {"chu.mssante.fr", ""}, {"chu..fr", "s1"}, {"chu.fr", "s 1"}, {"chu.fr;x", "s1"},
	} {
		if _, err := Generate(tc.domain, tc.selector); err == nil {
			t.Errorf("Generate(%q, %q) accepted", tc.domain, tc.selector)
		}
	}
}
