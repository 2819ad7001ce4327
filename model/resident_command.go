package model

import (
	"errors"
	"fmt"
	"strings"
)

// SplitCommand splits a command line into words as a POSIX shell would,
// without running a shell: words are separated by unquoted blanks (space,
// tab, newline); single quotes keep everything up to the next single quote;
// double quotes keep everything but \", \\, \$ and \` (backslash escapes)
// and a backslash-newline (removed); an unquoted backslash keeps the next
// character (a backslash-newline is removed). ” and "" make empty words.
// Nothing is expanded. An unbalanced quote, a trailing backslash and
// unquoted shell syntax (| & ; < > ( ) $ `) are errors, so that a command
// meant for a shell is not silently run another way.
func SplitCommand(s string) ([]string, error) {
	var words []string
	var w strings.Builder
	inWord := false
	for i := 0; i < len(s); i++ {
		c := s[i]
		switch {
		case c == ' ' || c == '\t' || c == '\n':
			if inWord {
				words = append(words, w.String())
				w.Reset()
				inWord = false
			}
		case c == '\'':
			j := strings.IndexByte(s[i+1:], '\'')
			if j < 0 {
				return nil, fmt.Errorf("model: command %q: unbalanced single quote", s)
			}
			w.WriteString(s[i+1 : i+1+j])
			i += j + 1
			inWord = true
		case c == '"':
			i++
			for ; i < len(s) && s[i] != '"'; i++ {
				if s[i] == '\\' && i+1 < len(s) {
					switch s[i+1] {
					case '"', '\\', '$', '`':
						i++
					case '\n':
						i++
						continue
					}
				}
				w.WriteByte(s[i])
			}
			if i >= len(s) {
				return nil, fmt.Errorf("model: command %q: unbalanced double quote", s)
			}
			inWord = true
		case c == '\\':
			if i+1 >= len(s) {
				return nil, fmt.Errorf("model: command %q: trailing backslash", s)
			}
			i++
			if s[i] != '\n' {
				w.WriteByte(s[i])
				inWord = true
			}
		case strings.IndexByte("|&;<>()$`", c) >= 0:
			return nil, fmt.Errorf("model: command %q: shell syntax %q is not supported (no shell runs the command; quote it, or run sh -c '...')", s, c)
		default:
			w.WriteByte(c)
			inWord = true
		}
	}
	if inWord {
		words = append(words, w.String())
	}
	if len(words) == 0 {
		return nil, errors.New("model: empty command")
	}
	return words, nil
}
