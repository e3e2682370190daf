package web

import (
	"math"
	"regexp"
	"strconv"
	"testing"
)

// TestContrast checks the colour pairs of the style sheet against WCAG 2.1
// AA: 4.5:1 for text, 3:1 for the focus ring and large text.
func TestContrast(t *testing.T) {
	css, err := embedded.ReadFile("static/app.css")
	if err != nil {
		t.Fatal(err)
	}
	vars := make(map[string]string)
	for _, m := range regexp.MustCompile(`--([a-z-]+): (#[0-9a-f]{6});`).FindAllStringSubmatch(string(css), -1) {
		vars[m[1]] = m[2]
	}
	color := func(name string) string {
		if v, ok := vars[name]; ok {
			return v
		}
		return name
	}
	tests := []struct {
		fg, bg string
		min    float64
	}{
		{"ink", "surface", 4.5},
		{"ink", "bg", 4.5},
		{"muted", "surface", 4.5},
		{"muted", "bg", 4.5},
		{"muted", "primary-soft", 4.5},
		{"primary", "surface", 4.5},
		{"primary-dark", "primary-soft", 4.5},
		{"#ffffff", "primary", 4.5},
		{"#ffffff", "primary-dark", 4.5},
		{"#ffffff", "accent", 4.5},
		{"unread", "surface", 4.5},
		{"danger", "surface", 4.5},
		{"danger", "danger-soft", 4.5},
		{"ok", "ok-soft", 4.5},
		{"focus", "surface", 3},
	}
	for _, tt := range tests {
		fg, bg := color(tt.fg), color(tt.bg)
		if got := contrast(t, fg, bg); got < tt.min {
			t.Errorf("%s (%s) on %s (%s): %.2f:1, want at least %.1f:1", tt.fg, fg, tt.bg, bg, got, tt.min)
		}
	}
}

// contrast is the WCAG 2.1 contrast ratio of two #rrggbb colours.
func contrast(t *testing.T, a, b string) float64 {
	la, lb := luminance(t, a), luminance(t, b)
	return (math.Max(la, lb) + 0.05) / (math.Min(la, lb) + 0.05)
}

func luminance(t *testing.T, hex string) float64 {
	t.Helper()
	if len(hex) != 7 {
		t.Fatalf("not a #rrggbb colour: %q", hex)
	}
	var l float64
	for i, w := range []float64{0.2126, 0.7152, 0.0722} {
		v, err := strconv.ParseUint(hex[1+2*i:3+2*i], 16, 8)
		if err != nil {
			t.Fatal(err)
		}
		c := float64(v) / 255
		if c <= 0.04045 {
			c /= 12.92
		} else {
			c = math.Pow((c+0.055)/1.055, 2.4)
		}
		l += w * c
	}
	return l
}
