// Package nginxconf reads nginx.conf syntax: directives with their
// arguments, blocks, quoted strings with escapes, comments, and `include`
// (relative to the including file, globs allowed). Variables are left as
// text. It knows no directive's meaning; internal/nginximport gives them one.
//
// The grammar is nginx's own (src/core/ngx_conf_file.c,
// ngx_conf_read_token): a directive is words up to `;`, or up to a `{`
// that opens its block; `#` starts a comment where a word could start.
package nginxconf

import (
	"bytes"
	"errors"
	"fmt"
	"io/fs"
	"os"
	"path/filepath"
	"strings"
)

// Directive is one nginx directive.
type Directive struct {
	Name  string
	Args  []string     // unquoted and unescaped; variables as written
	Block []*Directive // the block's directives; nil without a block
	// HasBlock distinguishes `name { }` (an empty block) from `name;`.
	HasBlock bool
	File     string // the file it was read from, as named to the parser
	Line     int    // 1-based line of its name
}

// String is the directive as one line: its name and arguments, quoted
// where needed, without its block.
func (d *Directive) String() string {
	var b strings.Builder
	if d.Name == "include" {
		// An include left in the tree was quoted (the parser expands the
		// others); quoted it stays one.
		b.WriteString(quote(d.Name))
	} else {
		b.WriteString(word(d.Name))
	}
	for _, a := range d.Args {
		b.WriteByte(' ')
		b.WriteString(word(a))
	}
	return b.String()
}

// word quotes s where nginx would not read it back as one word.
func word(s string) string {
	if s == "" || strings.ContainsAny(s, " \t\r\n;{}#'\"") || strings.Contains(s, "${") {
		return quote(s)
	}
	return backslashes(s)
}

func quote(s string) string {
	r := strings.NewReplacer(`"`, `\"`, "\n", `\n`, "\t", `\t`, "\r", `\r`)
	return `"` + r.Replace(backslashes(s)) + `"`
}

// backslashes escapes the backslashes the lexer would read as the start
// of an escape; any other (a regex's `\.`) is kept as written, as nginx
// keeps it.
func backslashes(s string) string {
	if !strings.Contains(s, `\`) {
		return s
	}
	var b strings.Builder
	for i := 0; i < len(s); i++ {
		b.WriteByte(s[i])
		if s[i] == '\\' && (i+1 == len(s) || strings.IndexByte("\"'\\tnr\n\t\r", s[i+1]) >= 0) {
			b.WriteByte('\\')
		}
	}
	return b.String()
}

// Where is "file:line" of d.
func (d *Directive) Where() string { return fmt.Sprintf("%s:%d", d.File, d.Line) }

// Error is a syntax error at a place in a file.
type Error struct {
	File string
	Line int
	Msg  string
}

func (e *Error) Error() string { return fmt.Sprintf("%s:%d: %s", e.File, e.Line, e.Msg) }

// Limits bound the work one parse may do, whatever the input: nginx's
// own parser trusts its files, this one reads files a user hands it.
const (
	MaxIncludeDepth = 16      // includes within includes
	MaxFiles        = 256     // files read in one parse, the first included
	MaxFileBytes    = 8 << 20 // one file
	MaxDirectives   = 100000  // in all files together
	MaxBlockDepth   = 64      // blocks within blocks
)

// FS is what include reads through: os for files (OS), anything else in
// tests and fuzzing.
type FS interface {
	ReadFile(name string) ([]byte, error)
	Glob(pattern string) ([]string, error)
}

// OS reads the real file system.
type OS struct{}

func (OS) ReadFile(name string) ([]byte, error) {
	fi, err := os.Stat(name)
	if err != nil {
		return nil, err
	}
	if fi.Size() > MaxFileBytes {
		return nil, fmt.Errorf("%s: larger than %d bytes", name, MaxFileBytes)
	}
	return os.ReadFile(name)
}

func (OS) Glob(pattern string) ([]string, error) { return filepath.Glob(pattern) }

// ParseFile reads the nginx config at path and every file it includes.
func ParseFile(fsys FS, path string) ([]*Directive, error) {
	src, err := fsys.ReadFile(path)
	if err != nil {
		return nil, err
	}
	return Parse(fsys, path, src)
}

// Parse parses src, named name (for errors, and as the place includes are
// relative to). fsys reads included files; nil refuses every include.
func Parse(fsys FS, name string, src []byte) ([]*Directive, error) {
	p := &parser{fsys: fsys}
	return p.file(name, src, 0)
}

type parser struct {
	fsys       FS
	files      int
	directives int
}

func (p *parser) file(name string, src []byte, depth int) ([]*Directive, error) {
	p.files++
	if p.files > MaxFiles {
		return nil, &Error{name, 1, fmt.Sprintf("more than %d files included", MaxFiles)}
	}
	if len(src) > MaxFileBytes {
		return nil, &Error{name, 1, fmt.Sprintf("larger than %d bytes", MaxFileBytes)}
	}
	lx := &lexer{src: src, line: 1, name: name}
	ds, err := p.block(lx, depth, 0, false)
	if err != nil {
		return nil, err
	}
	return ds, nil
}

// block reads directives up to the end of the file or, inBlock, up to the
// `}` that closes the block.
func (p *parser) block(lx *lexer, incDepth, blockDepth int, inBlock bool) ([]*Directive, error) {
	var out []*Directive
	for {
		var words []token
		for {
			tok, err := lx.next()
			if err != nil {
				return nil, err
			}
			switch {
			case tok.kind == tEOF:
				if len(words) > 0 {
					return nil, lx.errf(tok.line, "unexpected end of file, expecting \";\" or \"}\"")
				}
				if inBlock {
					return nil, lx.errf(tok.line, "unexpected end of file, expecting \"}\"")
				}
				return out, nil
			case tok.kind == tClose:
				if len(words) > 0 {
					return nil, lx.errf(tok.line, "unexpected \"}\"")
				}
				if !inBlock {
					return nil, lx.errf(tok.line, "unexpected \"}\"")
				}
				return out, nil
			case tok.kind == tSemi || tok.kind == tOpen:
				if len(words) == 0 {
					return nil, lx.errf(tok.line, "unexpected %q", tok.text)
				}
				p.directives++
				if p.directives > MaxDirectives {
					return nil, lx.errf(tok.line, "more than %d directives", MaxDirectives)
				}
				d := &Directive{Name: words[0].text, File: lx.name, Line: words[0].line}
				for _, w := range words[1:] {
					d.Args = append(d.Args, w.text)
				}
				if tok.kind == tOpen {
					if blockDepth+1 > MaxBlockDepth {
						return nil, lx.errf(tok.line, "blocks nested deeper than %d", MaxBlockDepth)
					}
					d.HasBlock = true
					blk, err := p.block(lx, incDepth, blockDepth+1, true)
					if err != nil {
						return nil, err
					}
					d.Block = blk
					if d.Block == nil {
						d.Block = []*Directive{}
					}
					out = append(out, d)
				} else if d.Name == "include" && !words[0].quoted {
					inc, err := p.include(d, incDepth)
					if err != nil {
						return nil, err
					}
					out = append(out, inc...)
				} else {
					out = append(out, d)
				}
				words = nil
			default:
				words = append(words, tok)
			}
			if tok.kind != tWord {
				break
			}
		}
	}
}

// include reads the files d names, relative to the including file's
// directory, and returns their directives in its place. A pattern that
// matches nothing includes nothing, as in nginx.
func (p *parser) include(d *Directive, depth int) ([]*Directive, error) {
	if len(d.Args) != 1 {
		return nil, &Error{d.File, d.Line, "include takes one file or pattern"}
	}
	if p.fsys == nil {
		return nil, &Error{d.File, d.Line, "include: no file system to read " + d.Args[0]}
	}
	if depth+1 > MaxIncludeDepth {
		return nil, &Error{d.File, d.Line, fmt.Sprintf("includes nested deeper than %d", MaxIncludeDepth)}
	}
	pat := d.Args[0]
	if !filepath.IsAbs(pat) {
		pat = filepath.Join(filepath.Dir(d.File), pat)
	}
	var names []string
	if strings.ContainsAny(pat, "*?[") {
		m, err := p.fsys.Glob(pat)
		if err != nil {
			return nil, &Error{d.File, d.Line, fmt.Sprintf("include %s: %v", d.Args[0], err)}
		}
		names = m
	} else {
		names = []string{pat}
	}
	var out []*Directive
	for _, n := range names {
		src, err := p.fsys.ReadFile(n)
		if err != nil {
			if errors.Is(err, fs.ErrNotExist) {
				err = fs.ErrNotExist
			}
			return nil, &Error{d.File, d.Line, fmt.Sprintf("include %s: %v", n, err)}
		}
		ds, err := p.file(n, src, depth+1)
		if err != nil {
			return nil, err
		}
		out = append(out, ds...)
	}
	return out, nil
}

type tokKind int

const (
	tEOF tokKind = iota
	tWord
	tSemi
	tOpen
	tClose
)

type token struct {
	kind   tokKind
	text   string
	line   int
	quoted bool
}

type lexer struct {
	src  []byte
	pos  int
	line int
	name string
}

func (lx *lexer) errf(line int, format string, args ...any) error {
	return &Error{lx.name, line, fmt.Sprintf(format, args...)}
}

func isSpace(c byte) bool { return c == ' ' || c == '\t' || c == '\r' || c == '\n' }

// next returns the next token. Words end at space, `;`, `{` or `}`
// (unless quoted or escaped); `${var}` keeps its braces in the word.
func (lx *lexer) next() (token, error) {
	for lx.pos < len(lx.src) {
		c := lx.src[lx.pos]
		if c == '\n' {
			lx.line++
		}
		if isSpace(c) {
			lx.pos++
			continue
		}
		if c == '#' {
			for lx.pos < len(lx.src) && lx.src[lx.pos] != '\n' {
				lx.pos++
			}
			continue
		}
		break
	}
	if lx.pos >= len(lx.src) {
		return token{kind: tEOF, line: lx.line}, nil
	}
	line := lx.line
	switch c := lx.src[lx.pos]; c {
	case ';':
		lx.pos++
		return token{kind: tSemi, text: ";", line: line}, nil
	case '{':
		lx.pos++
		return token{kind: tOpen, text: "{", line: line}, nil
	case '}':
		lx.pos++
		return token{kind: tClose, text: "}", line: line}, nil
	case '"', '\'':
		lx.pos++
		var b strings.Builder
		for {
			if lx.pos >= len(lx.src) {
				return token{}, lx.errf(line, "unterminated string")
			}
			ch := lx.src[lx.pos]
			lx.pos++
			switch {
			case ch == c:
				// As nginx: a quoted word ends at space, ; { } or the ) of
				// an if condition (`if ($x = 'y') {`).
				if lx.pos < len(lx.src) && !isSpace(lx.src[lx.pos]) && !strings.ContainsRune(";{})", rune(lx.src[lx.pos])) {
					return token{}, lx.errf(lx.line, "unexpected %q after a quoted string", lx.src[lx.pos])
				}
				return token{kind: tWord, text: b.String(), line: line, quoted: true}, nil
			case ch == '\\' && lx.pos < len(lx.src):
				lx.escape(&b)
			default:
				if ch == '\n' {
					lx.line++
				}
				b.WriteByte(ch)
			}
		}
	}
	var b strings.Builder
	for lx.pos < len(lx.src) {
		ch := lx.src[lx.pos]
		if isSpace(ch) || ch == ';' || ch == '{' || ch == '}' {
			break
		}
		lx.pos++
		switch {
		case ch == '\\' && lx.pos < len(lx.src):
			lx.escape(&b)
		case ch == '$' && lx.pos < len(lx.src) && lx.src[lx.pos] == '{':
			// ${var}: its braces belong to the word.
			end := bytes.IndexAny(lx.src[lx.pos:], "}\n;")
			if end < 0 || lx.src[lx.pos+end] != '}' {
				return token{}, lx.errf(line, "unterminated ${ in %q", b.String()+"$")
			}
			b.WriteByte('$')
			b.Write(lx.src[lx.pos : lx.pos+end+1])
			lx.pos += end + 1
		default:
			b.WriteByte(ch)
		}
	}
	return token{kind: tWord, text: b.String(), line: line}, nil
}

// escape reads the character after a backslash: nginx turns \" \' \\ \t
// \r \n into the character and keeps any other pair as written (a regex's
// `\.` stays `\.`).
func (lx *lexer) escape(b *strings.Builder) {
	ch := lx.src[lx.pos]
	lx.pos++
	switch ch {
	case '"', '\'', '\\':
		b.WriteByte(ch)
	case 't':
		b.WriteByte('\t')
	case 'r':
		b.WriteByte('\r')
	case 'n':
		b.WriteByte('\n')
	default:
		if ch == '\n' {
			lx.line++
		}
		b.WriteByte('\\')
		b.WriteByte(ch)
	}
}
