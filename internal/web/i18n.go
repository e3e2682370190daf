package web

import (
	"encoding/json"
	"fmt"
	"io/fs"
	"net/http"
	"strings"
)

// Languages the interface speaks; the first is the default.
var languages = []string{"fr", "en"}

// catalog holds the interface texts: language, then key, then text.
type catalog map[string]map[string]string

// loadCatalog reads i18n/<lang>.json for every language and checks that
// they have the same keys, so that no text is missing in one language.
func loadCatalog(fsys fs.FS) (catalog, error) {
	c := make(catalog)
	for _, lang := range languages {
		// i18n/<lang>.json, then i18n/<lang>-<part>.json for the texts of
		// one part of the app (such as fr-auth.json); a key given twice is
		// an error.
		extra, err := fs.Glob(fsys, "i18n/"+lang+"-*.json")
		if err != nil {
			return nil, err
		}
		m := make(map[string]string)
		for _, name := range append([]string{"i18n/" + lang + ".json"}, extra...) {
			b, err := fs.ReadFile(fsys, name)
			if err != nil {
				return nil, fmt.Errorf("web: read %s texts: %w", lang, err)
			}
			part := make(map[string]string)
			if err := json.Unmarshal(b, &part); err != nil {
				return nil, fmt.Errorf("web: parse %s: %w", name, err)
			}
			for k, v := range part {
				if _, dup := m[k]; dup {
					return nil, fmt.Errorf("web: text %q given twice in the %s texts", k, lang)
				}
				m[k] = v
			}
		}
		c[lang] = m
	}
	for key := range c[languages[0]] {
		for _, lang := range languages[1:] {
			if _, ok := c[lang][key]; !ok {
				return nil, fmt.Errorf("web: text %q missing in %s", key, lang)
			}
		}
	}
	for _, lang := range languages[1:] {
		if len(c[lang]) != len(c[languages[0]]) {
			return nil, fmt.Errorf("web: %s has texts that %s lacks", lang, languages[0])
		}
	}
	return c, nil
}

// text returns the text of key in lang, formatted with args when given. An
// unknown key shows as itself so that a gap is visible, never a blank.
func (c catalog) text(lang, key string, args ...any) string {
	s, ok := c[lang][key]
	if !ok {
		return key
	}
	if len(args) > 0 {
		return fmt.Sprintf(s, args...)
	}
	return s
}

// requestLang returns the language the user chose (the lang cookie), or
// French.
func requestLang(r *http.Request) string {
	if ck, err := r.Cookie("lang"); err == nil {
		for _, l := range languages {
			if ck.Value == l {
				return l
			}
		}
	}
	return languages[0]
}

// humanSize writes a byte count the way the interface language does.
func (c catalog) humanSize(lang string, n int64) string {
	var s string
	switch {
	case n < 1000:
		return c.text(lang, "size_b", n)
	case n < 1000*1000:
		s = c.text(lang, "size_kb", float64(n)/1000)
	default:
		s = c.text(lang, "size_mb", float64(n)/1000/1000)
	}
	if lang == "fr" {
		s = strings.Replace(s, ".", ",", 1)
	}
	return s
}
