package model

import (
	"slices"
	"strings"
	"testing"
)

func TestSplitCommand(t *testing.T) {
	for _, c := range []struct {
		in   string
		want []string
		err  string
	}{
		{`python3 train.py`, []string{"python3", "train.py"}, ""},
		{"  a\t b \n c  ", []string{"a", "b", "c"}, ""},
		{`python3 "my trainer.py" --name 'a b'`, []string{"python3", "my trainer.py", "--name", "a b"}, ""},
		{`a'b'"c"d`, []string{"abcd"}, ""},
		{`'' ""`, []string{"", ""}, ""},
		{`'it''s' "say \"hi\"" 'back\slash'`, []string{"its", `say "hi"`, `back\slash`}, ""},
		{`"\a \\ \$ \` + "`" + `"`, []string{`\a \ $ ` + "`"}, ""},
		{`a\ b c\"d \'`, []string{"a b", `c"d`, "'"}, ""},
		{"a\\\nb \"c\\\nd\"", []string{"ab", "cd"}, ""},
		{`--x='$HOME' "*"`, []string{"--x=$HOME", "*"}, ""},
		{`a 'b`, nil, "unbalanced single quote"},
		{`a "b\"`, nil, "unbalanced double quote"},
		{`a \`, nil, "trailing backslash"},
		{`a | b`, nil, "shell syntax '|'"},
		{`a > log`, nil, "shell syntax '>'"},
		{`echo $HOME`, nil, "shell syntax '$'"},
		{`a;b`, nil, "shell syntax ';'"},
		{"   ", nil, "empty command"},
		{"", nil, "empty command"},
	} {
		got, err := SplitCommand(c.in)
		if c.err != "" {
			if err == nil || !strings.Contains(err.Error(), c.err) {
				t.Errorf("%q: %q, %v; want error %q", c.in, got, err, c.err)
			}
			continue
		}
		if err != nil || !slices.Equal(got, c.want) {
			t.Errorf("%q: %q, %v; want %q", c.in, got, err, c.want)
		}
	}
}

func FuzzSplitCommand(f *testing.F) {
	f.Add(`python3 "a b" 'c' d\ e`)
	f.Fuzz(func(t *testing.T, s string) {
		words, err := SplitCommand(s)
		if err != nil {
			return
		}
		// Re-quoting every word in single quotes splits back to the same words.
		var q []string
		for _, w := range words {
			q = append(q, "'"+strings.ReplaceAll(w, "'", `'\''`)+"'")
		}
		again, err := SplitCommand(strings.Join(q, " "))
		if err != nil || !slices.Equal(again, words) {
			t.Fatalf("%q -> %q -> %q, %v", s, words, again, err)
		}
	})
}
