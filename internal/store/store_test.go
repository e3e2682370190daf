package store

import "testing"

func TestRebind(t *testing.T) {
	for _, c := range []struct{ in, want string }{
		{"SELECT ? , ?", "SELECT $1 , $2"},
		{"SELECT '?' , ?", "SELECT '?' , $1"},
		{"LIKE ? ESCAPE '\\'", "LIKE $1 ESCAPE '\\'"},
		{"no placeholders", "no placeholders"},
	} {
		if got := rebind(Postgres, c.in); got != c.want {
			t.Errorf("rebind(%q) = %q, want %q", c.in, got, c.want)
		}
		if got := rebind(SQLite, c.in); got != c.in {
			t.Errorf("sqlite rebind changed %q", c.in)
		}
	}
}
