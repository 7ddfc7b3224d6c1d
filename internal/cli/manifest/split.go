package manifest

import (
	"bytes"
)

// document is one YAML document of a stream and the 1-based line of the
// source it starts on.
type document struct {
	line int
	text []byte
}

// splitYAML splits a YAML stream at `---` lines. Text after the marker on
// the same line (`--- # comment`, `--- {a: 1}`) belongs to the next
// document. Documents holding only blank lines and comments are dropped, so
// indexes count what a reader sees as documents.
func splitYAML(data []byte) []document {
	var docs []document
	cur := document{line: 1}
	lineNo := 0
	for len(data) > 0 {
		lineNo++
		line := data
		if i := bytes.IndexByte(data, '\n'); i >= 0 {
			line, data = data[:i+1], data[i+1:]
		} else {
			data = nil
		}
		if rest, ok := separator(line); ok {
			docs = appendDoc(docs, cur)
			cur = document{line: lineNo, text: append([]byte("   "), rest...)}
			continue
		}
		cur.text = append(cur.text, line...)
	}
	return appendDoc(docs, cur)
}

// separator reports whether line is a document marker and returns what
// follows it.
func separator(line []byte) (rest []byte, ok bool) {
	if !bytes.HasPrefix(line, []byte("---")) {
		return nil, false
	}
	rest = line[3:]
	trimmed := bytes.TrimRight(rest, "\r\n")
	if len(trimmed) > 0 && trimmed[0] != ' ' && trimmed[0] != '\t' {
		return nil, false // "----" or "---x" is content, not a marker
	}
	return rest, true
}

func appendDoc(docs []document, d document) []document {
	if isBlank(d.text) {
		return docs
	}
	return append(docs, d)
}

// isBlank reports whether text has only whitespace and comment lines.
func isBlank(text []byte) bool {
	for _, line := range bytes.Split(text, []byte("\n")) {
		line = bytes.TrimSpace(line)
		if len(line) > 0 && line[0] != '#' {
			return false
		}
	}
	return true
}
