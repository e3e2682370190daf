package web

import (
	"io/fs"
	"strings"
	"testing"
)

func TestEveryTextTranslated(t *testing.T) {
	c, err := loadCatalog(embedded)
	if err != nil {
		t.Fatal(err)
	}
	keys, err := templateKeys()
	if err != nil {
		t.Fatal(err)
	}
	if len(keys) < 50 {
		t.Fatalf("found only %d text keys in the templates", len(keys))
	}
	for _, k := range keys {
		for _, lang := range languages {
			if _, ok := c[lang][k]; !ok {
				t.Errorf("template text %q has no %s translation", k, lang)
			}
		}
	}
}

func TestGuideWording(t *testing.T) {
	c, err := loadCatalog(embedded)
	if err != nil {
		t.Fatal(err)
	}
	want := map[string]string{
		"new_message": "Nouveau message", "reply": "Répondre", "reply_all": "Répondre à tous",
		"forward": "Transférer", "send": "Envoyer", "save_draft": "Enregistrer comme brouillon",
		"manage_account": "Gérer votre compte", "switch_account": "Changer de compte", "directory": "Annuaires",
		"to": "A:", "cc": "CC:", "validate": "Valider", "add_favourite": "Ajouter aux favoris",
		"add_attachment": "Ajouter une pièce jointe",
	}
	for key, text := range want {
		if got := c.text("fr", key); got != text {
			t.Errorf("fr %s = %q, want the guide's %q", key, got, text)
		}
	}
}

func TestHumanSize(t *testing.T) {
	c, err := loadCatalog(embedded)
	if err != nil {
		t.Fatal(err)
	}
	tests := []struct {
		lang string
		n    int64
		want string
	}{
		{"fr", 512, "512 o"},
		{"fr", 1500, "1,5 Ko"},
		{"fr", 25_000_000, "25,0 Mo"},
		{"en", 25_000_000, "25.0 MB"},
	}
	for _, tt := range tests {
		if got := c.humanSize(tt.lang, tt.n); got != tt.want {
			t.Errorf("humanSize(%s, %d) = %q, want %q", tt.lang, tt.n, got, tt.want)
		}
	}
}

// templateKeys returns the text keys the templates use, for the test that
// checks every one is translated.
func templateKeys() ([]string, error) {
	var keys []string
	err := fs.WalkDir(embedded, "templates", func(path string, d fs.DirEntry, err error) error {
		if err != nil || d.IsDir() {
			return err
		}
		b, err := fs.ReadFile(embedded, path)
		if err != nil {
			return err
		}
		for _, part := range strings.Split(string(b), `{{t "`)[1:] {
			keys = append(keys, part[:strings.IndexByte(part, '"')])
		}
		return nil
	})
	return keys, err
}
