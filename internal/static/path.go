package static

import "strings"

// maxPath bounds the length of a request path; longer ones answer 414.
const maxPath = 4096

// Resolve maps a raw request path (as sent, still percent-encoded) to a
// slash-separated path relative to the served root. When the path must not be
// served it returns an HTTP status instead: 400 for malformed or traversing
// paths (bad escapes, NUL, control bytes, backslashes, "..") and 404 for
// hidden segments (names starting with ".") and over-long names.
//
// The result never contains "..", a leading "/", a backslash or a NUL, so it
// cannot name anything above the root; symlinks are checked when the file is
// opened. The root itself resolves to ".".
func Resolve(raw []byte) (string, int) {
	if len(raw) == 0 || raw[0] != '/' {
		return "", 400
	}
	if len(raw) > maxPath {
		return "", 414
	}
	decoded := make([]byte, 0, len(raw))
	for i := 0; i < len(raw); i++ {
		c := raw[i]
		if c == '%' {
			if i+2 >= len(raw) || !isHex(raw[i+1]) || !isHex(raw[i+2]) {
				return "", 400
			}
			c = unhex(raw[i+1])<<4 | unhex(raw[i+2])
			i += 2
		}
		if c < 0x20 || c == 0x7f || c == '\\' {
			return "", 400
		}
		decoded = append(decoded, c)
	}
	var segs []string
	for _, seg := range strings.Split(string(decoded), "/") {
		switch {
		case seg == "" || seg == ".":
			continue
		case seg == "..":
			return "", 400
		case seg[0] == '.', len(seg) > 255:
			return "", 404
		}
		segs = append(segs, seg)
	}
	if len(segs) == 0 {
		return ".", 0
	}
	return strings.Join(segs, "/"), 0
}

func isHex(c byte) bool {
	return '0' <= c && c <= '9' || 'a' <= c && c <= 'f' || 'A' <= c && c <= 'F'
}

func unhex(c byte) byte {
	switch {
	case c <= '9':
		return c - '0'
	case c <= 'F':
		return c - 'A' + 10
	default:
		return c - 'a' + 10
	}
}
