package web

import (
	"os"
	"path/filepath"
	"regexp"
	"strings"
	"testing"
)

// hostileCorpus returns the hostile samples of testdata/hostile, each
// trying to reach http://<canary>/hit/<name>.
func hostileCorpus(t testing.TB, canary string) map[string]string {
	t.Helper()
	files, err := filepath.Glob("testdata/hostile/*.html")
	if err != nil || len(files) == 0 {
		t.Fatalf("no hostile corpus: %v", err)
	}
	corpus := make(map[string]string, len(files))
	for _, f := range files {
		b, err := os.ReadFile(f)
		if err != nil {
			t.Fatal(err)
		}
		corpus[strings.TrimSuffix(filepath.Base(f), ".html")] = strings.ReplaceAll(string(b), "CANARY", canary)
	}
	return corpus
}

func TestSanitizeHostile(t *testing.T) {
	forbidden := regexp.MustCompile(`(?i)<script|<svg|<math|<form|<input|<button|<meta|<style|<link|<iframe|<object|<embed|<base|<template|<video|<audio|<source|\son[a-z]+=|javascript:|vbscript:|data:text|url\(|expression|position|srcset|background=|\s(src|action|data|poster|style|ping|content|formaction)=["']?[^"'>]*canary`)
	s := NewSanitizer()
	for name, src := range hostileCorpus(t, "canary.test") {
		t.Run(name, func(t *testing.T) {
			got := s.Sanitize(src, SanitizeOptions{}).HTML
			if m := forbidden.FindString(got); m != "" {
				t.Fatalf("sanitised output keeps %q:\n%s", m, got)
			}
		})
	}
}

func TestSanitizeKeeps(t *testing.T) {
	partURL := func(cid string) string { return "/m/7/part/" + cid }
	tests := []struct {
		name    string
		in      string
		opts    SanitizeOptions
		want    []string
		blocked int
	}{
		{"formatting", `<p><b>Bilan</b> <i>sanguin</i> <u>normal</u></p>`, SanitizeOptions{},
			[]string{`<p><b>Bilan</b> <i>sanguin</i> <u>normal</u></p>`}, 0},
		{"table", `<table border="1" cellpadding="4"><tr><td colspan="2" align="center">Na</td></tr></table>`, SanitizeOptions{},
			[]string{`<table border="1" cellpadding="4">`, `<td colspan="2" align="center">Na</td>`}, 0},
		{"link opens apart", `<a href="https://example.org/x">lien</a>`, SanitizeOptions{},
			[]string{`href="https://example.org/x"`, `rel="nofollow noreferrer noopener"`, `target="_blank"`}, 0},
		{"mailto", `<a href="mailto:dr@example.org">écrire</a>`, SanitizeOptions{},
			[]string{`href="mailto:dr@example.org"`}, 0},
		{"safe style", `<p style="color: #336699; font-weight: bold; margin: 0 4px">x</p>`, SanitizeOptions{},
			[]string{`color: #336699`, `font-weight: bold`, `margin: 0 4px`}, 0},
		{"cid image", `<img src="cid:logo@hopital.fr" alt="logo">`, SanitizeOptions{PartURL: partURL},
			[]string{`src="/m/7/part/logo@hopital.fr"`, `alt="logo"`}, 0},
		{"data image", `<img src="data:image/png;base64,iVBORw0KGgo=">`, SanitizeOptions{},
			[]string{`src="data:image/png;base64,iVBORw0KGgo="`}, 0},
		{"remote image blocked", `<img src="https://example.org/a.png" alt="a"><img src="http://example.org/b.png">`, SanitizeOptions{},
			[]string{`<img alt="a">`}, 2},
		{"remote image allowed", `<img src="https://example.org/a.png">`, SanitizeOptions{RemoteImages: true},
			[]string{`src="https://example.org/a.png"`}, 0},
	}
	s := NewSanitizer()
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got := s.Sanitize(tt.in, tt.opts)
			for _, w := range tt.want {
				if !strings.Contains(got.HTML, w) {
					t.Errorf("output lacks %q:\n%s", w, got.HTML)
				}
			}
			if got.BlockedImages != tt.blocked {
				t.Errorf("blocked %d images, want %d", got.BlockedImages, tt.blocked)
			}
		})
	}
}

// A signature keeps bold, italic, links, line breaks and a small https
// logo, and loses everything else; its text/plain form follows.
func TestSanitizeSignature(t *testing.T) {
	s := NewSanitizer()
	for _, tt := range []struct {
		name, in, html, text string
	}{
		{"formatting", `<b>Dr A</b><br><i>Cardio</i>`, `<b>Dr A</b><br><i>Cardio</i>`, "Dr A\nCardio"},
		{"script", `Dr A<script>alert(1)</script>`, `Dr A`, "Dr A"},
		{"event handler", `<p onclick="x()" onmouseover="y()">Dr A</p>`, `<p>Dr A</p>`, "Dr A"},
		{"javascript link", `<a href="javascript:alert(1)">Dr A</a>`, `Dr A`, "Dr A"},
		{"link", `<a href="https://c.example/">Cabinet</a>`, `<a href="https://c.example/" rel="nofollow noreferrer noopener" target="_blank">Cabinet</a>`, "Cabinet <https://c.example/>"},
		{"mail link", `<a href="mailto:a@c.example">a@c.example</a>`, `<a href="mailto:a@c.example" rel="nofollow noreferrer">a@c.example</a>`, "a@c.example"},
		{"CSS", `<span style="background:url(https://e.example/)">Dr A</span><style>*{}</style>`, `<span>Dr A</span>`, "Dr A"},
		{"logo", `<img src="https://c.example/l.png" alt="Logo" width="120" height="40">`, `<img src="https://c.example/l.png" alt="Logo" width="120" height="40">`, "Logo"},
		{"big or insecure images", `<img src="http://c.example/l.png"><img src="data:image/png;base64,AA"><img src="https://c.example/l.png" width="2000">`, `<img src="https://c.example/l.png" height="64">`, ""},
		{"nothing", `<script>alert(1)</script>`, ``, ""},
	} {
		t.Run(tt.name, func(t *testing.T) {
			got := s.SanitizeSignature(tt.in)
			if got != tt.html {
				t.Errorf("HTML = %q, want %q", got, tt.html)
			}
			if text := signatureText(got); text != tt.text {
				t.Errorf("text = %q, want %q", text, tt.text)
			}
		})
	}
}
